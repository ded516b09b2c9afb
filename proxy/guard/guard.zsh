# sshgate guard for zsh (5.8 or later), guard protocol 1. See docs/guard.md.
#
# Sourced by an interactive zsh (from /etc/zsh/zshrc or ~/.zshrc), it asks sshgate, on the
# session's own terminal, before every command the shell runs, and runs the command only when
# sshgate answers "approve" for that question's nonce. Print it with `sshgate guard print zsh`.
#
# Inert (defines nothing, prints nothing) unless the shell is interactive, /dev/tty can be
# opened, and LC_SSHGATE_GUARD=1 is in the environment (sshgate sets it on the target channel).
#
# Mechanism: a DEBUG trap set with `trap '...' DEBUG` (not the TRAPDEBUG function, which any
# function definition could replace). With DEBUG_BEFORE_CMD (on by default, forced on here)
# zsh runs it before each sublist (a pipeline or an && / || chain: `a | b && c` is one ask),
# including function definitions, the sublists inside functions, hooks (precmd, preexec,
# chpwd), zle widgets and ( subshells ) and $(...), which keep the trap. A trap that sets the
# option ERR_EXIT makes zsh skip the command (zshoptions(1), ERR_EXIT). $ZSH_DEBUG_CMD is the
# command rebuilt from the parsed form: aliases and history expanded, words not expanded.
# Each ask says where it came from: at=line (the line read at the prompt), prompt (a precmd
# hook or anything else before the next line), bind (a zle widget).
#
# Ask:    ESC ] 7428 ; 1 ; ask ; n=NONCE ; sh=zsh ; at=WHERE ; fn=B64 ; sub=N ; cmd=B64 BEL
# Beat:   ESC ] 7428 ; 1 ; beat ; n=NONCE ; sh=zsh ; pid=PID BEL       (before each prompt)
# Answer: ESC ] 7428 ; 1 ; approve ; n=NONCE BEL   (anything else skips the command)
# NONCE is 128 bits read from /dev/urandom; B64 is standard base64.
#
# zsh has no read-only functions: the trap checks, before anything else, that the guard's
# functions are still the ones this file defined and that no function stands in for a
# builtin they use, and skips the command otherwise. What it cannot prevent (each of these is
# itself a command asked about first): `trap - DEBUG`, `unsetopt debugbeforecmd`, `exec`,
# `disable` of a builtin the guard uses, a shell started without this file (`zsh -f`); the
# commands of other traps (zsh never runs DEBUG inside a trap); programs that commands start;
# a root user editing this file.

if [[ -o interactive && -z ${__sshgate_guard_version-} && ${LC_SSHGATE_GUARD-} == 1 ]] &&
    { : >/dev/tty } 2>/dev/null; then

zmodload zsh/parameter zsh/system || return 0
typeset -gr __sshgate_guard_version=1
typeset -gr __sshgate_guard_b64_digits='ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/'
typeset -g __sshgate_guard_phase=1
# The audit hook (docs/guard.md): a function `sshgate_guard_hook` defined before this file is
# called, unasked, with `ran COMMAND` after each approved command and with `prompt` at each
# heartbeat. Only one that exists now counts; its body is checked with the guard's own.
typeset -gri __sshgate_guard_hooked=${+functions[sshgate_guard_hook]}

# Base64 of $1's bytes into REPLY, in the shell. The alphabet is written here, not read from
# the global: a function's local of that name would hide even a read-only global.
__sshgate_guard_b64() {
    builtin emulate -L zsh
    builtin local LC_ALL=C in=$1 out= d='ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/'
    builtin local c0 c1 c2
    builtin integer i n=${#in} b0 b1 b2 k0 k1 k2 k3
    for ((i = 1; i <= n; i += 3)); do
        c0=${in[i]} c1=${in[i+1]} c2=${in[i+2]}
        b0=$(( #c0 )) b1=0 b2=0
        ((i + 1 <= n)) && b1=$(( #c1 ))
        ((i + 2 <= n)) && b2=$(( #c2 ))
        # The indexes are worked out first: a subscript that starts with `(` would be read as
        # subscript flags (zsh then prints an error, and in places misreads the index).
        ((k0 = (b0 >> 2) + 1, k1 = ((b0 & 3) << 4 | b1 >> 4) + 1,
          k2 = ((b1 & 15) << 2 | b2 >> 6) + 1, k3 = (b2 & 63) + 1))
        out+=${d[k0]}${d[k1]}
        if ((i + 1 <= n)); then out+=${d[k2]}; else out+='='; fi
        if ((i + 2 <= n)); then out+=${d[k3]}; else out+='='; fi
    done
    REPLY=$out
}

# A fresh 128-bit nonce, as 32 hex digits, into REPLY.
__sshgate_guard_nonce() {
    builtin emulate -L zsh
    builtin local LC_ALL=C raw= hex= c
    builtin sysread -s 16 raw </dev/urandom && ((${#raw} == 16)) || return 1
    for c in ${(s::)raw}; do hex+=${(l:2::0:)$(( [##16] #c ))}; done
    REPLY=${(L)hex}
}

# The first precmd hook. The trap writes the heartbeat when it runs for this hook's command,
# so that a shell whose trap is gone has no heartbeat.
__sshgate_guard_precmd() { __sshgate_guard_phase=1; }

# The heartbeat, just before each prompt.
__sshgate_guard_beat() {
    __sshgate_guard_nonce || return 0
    builtin print -rn -- $'\e]7428;1;beat;n='"$REPLY;sh=zsh;pid=$$"$'\a' >/dev/tty
}

# The last preexec hook: what runs next is the line just read.
__sshgate_guard_preexec() { __sshgate_guard_phase=0; }

# Asks about $1; returns 0 to run it.
__sshgate_guard_ask() {
    builtin emulate -L zsh
    # REPLY is local, so that the helpers' results land in a fresh parameter: a global REPLY
    # may carry an attribute of the operator's (lowercase, integer).
    builtin local IFS= LC_ALL=C at=line nonce fn cmd ask reply REPLY
    # The guard's own hooks run unasked (their bodies were checked by the trap), named
    # exactly: any function whose name starts like theirs is the operator's. And only as
    # functions: funcstack holds a sourced file's name too (`source __sshgate_guard_preexec`),
    # which zsh_eval_context tells apart (`file`, where a function is `shfunc`; then come the
    # trap and this function).
    if [[ ${zsh_eval_context[-3]-} == shfunc ]]; then
        case ${funcstack[2]-} in
            __sshgate_guard_precmd)
                __sshgate_guard_beat
                ((__sshgate_guard_hooked)) && sshgate_guard_hook prompt
                return 0
                ;;
            __sshgate_guard_preexec) return 0 ;;
        esac
    fi
    ((__sshgate_guard_phase)) && at=prompt
    [[ -n ${WIDGET-} ]] && at=bind
    __sshgate_guard_nonce || return 1; nonce=$REPLY
    __sshgate_guard_b64 "${funcstack[2,-1]}"; fn=$REPLY
    __sshgate_guard_b64 "$1"; cmd=$REPLY
    ask=$'\e]7428;1;ask;n='"$nonce;sh=zsh;at=$at;fn=$fn;sub=$ZSH_SUBSHELL;cmd=$cmd"$'\a'
    # The ask is read's prompt: read turns echo off (-s) before it writes the prompt, so an
    # answer that comes at once is never echoed.
    builtin read -r -s -d $'\a' "reply?$ask" </dev/tty 2>/dev/tty || return 1
    [[ $reply == *$'\e]7428;1;approve;n='$nonce ]] || return 1
    ((__sshgate_guard_hooked)) && IFS=$' \t\n' sshgate_guard_hook ran "$1"
    return 0
}

precmd_functions=(__sshgate_guard_precmd $precmd_functions)
preexec_functions+=(__sshgate_guard_preexec)
# The bodies as defined here; the trap compares before each command.
typeset -gr __sshgate_guard_src="${functions[__sshgate_guard_b64]}${functions[__sshgate_guard_nonce]}${functions[__sshgate_guard_precmd]}${functions[__sshgate_guard_beat]}${functions[__sshgate_guard_preexec]}${functions[__sshgate_guard_ask]}${functions[sshgate_guard_hook]}"
setopt debug_before_cmd
# The trap runs in the scope of the command it asks about, where a function's `local -h`
# hides any parameter, special or read-only, behind a plain one of its own: `options` (then
# `options[errexit]=on` skips nothing), `functions` (then the bodies compared are the
# operator's), `funcstack` or `zsh_eval_context` (then any command is the guard's own), and a local
# `ZSH_DEBUG_CMD` with an attribute (lowercase, a width) changes the text asked about. So the
# trap first checks each one's type against what it was when the guard was sourced, and
# otherwise aborts the command line with an expansion error, which no parameter or function
# can stop (`${:?}`, the empty name; `$((1/0))` is Inf under FORCE_FLOAT); and it compares
# the bodies with text written into the trap itself, not held in a parameter.
trap "[[ \${(t)options} == ${(qq)${(t)options}} && \${(t)functions} == ${(qq)${(t)functions}} && \${(t)funcstack} == ${(qq)${(t)funcstack}} && \${(t)zsh_eval_context} == ${(qq)${(t)zsh_eval_context}} && ( \${(t)ZSH_DEBUG_CMD} == scalar || \${(t)ZSH_DEBUG_CMD} == scalar-export ) ]] || : \${:?sshgate guard: a local parameter hides one the guard reads; command skipped}; [[ -o debugbeforecmd && \"\${functions[__sshgate_guard_b64]}\${functions[__sshgate_guard_nonce]}\${functions[__sshgate_guard_precmd]}\${functions[__sshgate_guard_beat]}\${functions[__sshgate_guard_preexec]}\${functions[__sshgate_guard_ask]}\${functions[sshgate_guard_hook]}\" == ${(qq)__sshgate_guard_src} && \${+functions[builtin]}\${+functions[emulate]}\${+functions[local]}\${+functions[integer]}\${+functions[sysread]}\${+functions[print]}\${+functions[read]} == 0000000 ]] && \\__sshgate_guard_ask \"\$ZSH_DEBUG_CMD\" || options[errexit]=on" DEBUG

fi
