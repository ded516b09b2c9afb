# sshgate guard for bash (5.1 or later), guard protocol 1. See docs/guard.md.
#
# Sourced by an interactive bash (from /etc/bash.bashrc or ~/.bashrc), it asks sshgate, on the
# session's own terminal, before every command the shell runs, and runs the command only when
# sshgate answers "approve" for that question's nonce. Print it with `sshgate guard print bash`.
#
# Inert (defines nothing, prints nothing) unless the shell is interactive, /dev/tty can be
# opened, and LC_SSHGATE_GUARD=1 is in the environment: sshgate sets it on the target channel
# (an LC_ name, which the usual `AcceptEnv LANG LC_*` lets through), so that a console login
# or an ssh session that did not come through sshgate is left alone.
#
# Mechanism: `shopt -s extdebug` and a DEBUG trap. Bash runs the trap before every simple
# command, `for`, `case`, `select`, `((...))` and `[[...]]`, and, with extdebug, skips the
# command when the trap returns non-zero; extdebug also turns on functrace, so shell functions,
# command substitutions and ( subshells ) inherit the trap. $BASH_COMMAND is the command after
# history and alias expansion, before word expansion: `touch $f` is asked about as written,
# and a `$(...)` inside it is asked about on its own when it runs. Bash runs the trap for
# PROMPT_COMMAND, `bind -x` commands and completion functions too; each ask says where it came
# from (at=line, prompt, bind or complete).
#
# Ask:    ESC ] 7428 ; 1 ; ask ; n=NONCE ; sh=bash ; at=WHERE ; fn=B64 ; sub=N ; cmd=B64 BEL
# Beat:   ESC ] 7428 ; 1 ; beat ; n=NONCE ; sh=bash ; pid=PID BEL      (before each prompt)
# Answer: ESC ] 7428 ; 1 ; approve ; n=NONCE BEL   (anything else skips the command)
# NONCE is 128 bits from the kernel's generator ($SRANDOM); B64 is standard base64.
#
# What it cannot prevent (each of these is itself a command the guard asks about first, so an
# approver who approves one approves the end of guarded mode for that shell): `trap - DEBUG`,
# `shopt -u extdebug`, `set +T` in a function, `exec` of another program, `enable -n` of a
# builtin this file uses (a function may then stand in for it), starting a shell without this
# file (`bash --norc`, `env -u LC_SSHGATE_GUARD bash`); programs that commands start, and
# what they run; the commands of the shell's other traps (bash does not run DEBUG inside a
# trap handler); a root user editing this file. Function definitions are not commands to
# bash and are not asked about; a function named like a builtin the guard uses is removed
# before each question so that it cannot answer for the guard.

if [[ $- == *i* && -z ${__sshgate_guard_version-} && ${LC_SSHGATE_GUARD-} == 1 ]] &&
    { : >/dev/tty; } 2>/dev/null; then

readonly __sshgate_guard_version=1
readonly __sshgate_guard_b64_digits='ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/'
# What the debug trap and the prompt read. Readonly so that unsetting them (which drops their
# special meaning) cannot make the guard ask about one command and run another.
readonly BASH_COMMAND FUNCNAME SRANDOM BASH_SUBSHELL SHELLOPTS BASHOPTS
# The audit hook (docs/guard.md): a function `sshgate_guard_hook` defined before this file is
# called, unasked, with `ran COMMAND` after each approved command and with `prompt` at each
# heartbeat. Only one that exists now counts; it is made read-only below.
if builtin declare -F sshgate_guard_hook >/dev/null; then
    readonly __sshgate_guard_hooked=1
    readonly -f sshgate_guard_hook
else
    readonly __sshgate_guard_hooked=0
fi

# Base64 of $1's bytes into REPLY, in the shell (a program could be replaced by a function).
# The values are quoted: behind `builtin`, `local`'s arguments are ordinary words, which an
# unquoted `in=$1` would have globbed (a file named `in=...` matching the command, or the word
# gone under nullglob, would have been asked about in its place).
__sshgate_guard_b64() {
    builtin local LC_ALL=C in="$1" out= i n b0 b1 b2 d="$__sshgate_guard_b64_digits"
    n=${#in}
    for ((i = 0; i < n; i += 3)); do
        builtin printf -v b0 '%d' "'${in:i:1}"
        b1=0 b2=0
        ((i + 1 < n)) && builtin printf -v b1 '%d' "'${in:i+1:1}"
        ((i + 2 < n)) && builtin printf -v b2 '%d' "'${in:i+2:1}"
        out+=${d:b0 >> 2:1}${d:(b0 & 3) << 4 | b1 >> 4:1}
        if ((i + 1 < n)); then out+=${d:(b1 & 15) << 2 | b2 >> 6:1}; else out+='='; fi
        if ((i + 2 < n)); then out+=${d:b2 & 63:1}; else out+='='; fi
    done
    REPLY=$out
}

# A fresh 128-bit nonce, as 32 hex digits, into REPLY.
__sshgate_guard_nonce() {
    builtin printf -v REPLY '%08x%08x%08x%08x' "$SRANDOM" "$SRANDOM" "$SRANDOM" "$SRANDOM"
}

# The heartbeat, written where sshgate reads it: just before each prompt.
__sshgate_guard_beat() {
    __sshgate_guard_nonce
    builtin printf '\033]7428;1;beat;n=%s;sh=bash;pid=%s\a' "$REPLY" "$$" >/dev/tty
}

# Marks the start of the prompt: the first entry of PROMPT_COMMAND.
__sshgate_guard_prompt() { :; }

# The DEBUG trap: $1 the command, $2 the shell options when the trap began, $3 "bind" inside
# a `bind -x` command, "complete" inside a completion function. Returns 0 to run the command.
__sshgate_guard_debug() {
    # Special builtins (unset, return) are found before functions only in POSIX mode, and only
    # they and assignments can be trusted until functions named like builtins are gone.
    POSIXLY_CORRECT=y
    [[ -o posix ]] || return 1
    unset -f builtin local read printf unset return
    [[ $2 == *posix* ]] || unset POSIXLY_CORRECT
    # With localvar_inherit a local starts with the attributes of the variable it hides (a
    # lowercase `cmd` would garble the question): the guard's locals need it off.
    builtin shopt -u localvar_inherit 2>/dev/null
    # REPLY is local here, so that the helpers' results land in a fresh variable: a global
    # REPLY may carry an attribute of the operator's (lowercase, integer).
    builtin local IFS= LC_ALL=C at nonce fn cmd ask reply want REPLY || return 1
    # The guard's prompt marker runs unasked (its body is `:`; the guard's functions are
    # read-only). Named exactly, and compared with `test`, which nocasematch does not touch:
    # a `case` on `__sshgate_guard_*` let any function so named run unasked.
    builtin test "${FUNCNAME[1]-}" = __sshgate_guard_prompt && return 0
    if builtin test "$1" = __sshgate_guard_prompt && ((${#FUNCNAME[@]} == 1)); then
        __sshgate_guard_phase=1
        # No heartbeat from a shell where a non-zero status no longer skips the command, or
        # where functions no longer inherit the trap.
        if [[ $BASHOPTS == *extdebug* && $2 == *functrace* ]]; then
            __sshgate_guard_beat
            ((__sshgate_guard_hooked)) && sshgate_guard_hook prompt
        fi
        return 0
    fi
    at=line
    [[ ${__sshgate_guard_phase-} == 1 ]] && at=prompt
    at=${3:-$at}
    __sshgate_guard_nonce; nonce=$REPLY
    __sshgate_guard_b64 "${FUNCNAME[*]:1}"; fn=$REPLY
    __sshgate_guard_b64 "$1"; cmd=$REPLY
    builtin printf -v ask '\033]7428;1;ask;n=%s;sh=bash;at=%s;fn=%s;sub=%s;cmd=%s\a' \
        "$nonce" "$at" "$fn" "$BASH_SUBSHELL" "$cmd"
    # The ask is read's prompt: read turns echo off (-s) before it writes the prompt, so an
    # answer that comes at once is never echoed. -d BEL also puts the terminal in cbreak
    # mode, so the answer needs no newline. Bytes typed before the answer are read and dropped.
    builtin read -r -s -d $'\a' -p "$ask" reply </dev/tty 2>/dev/tty || return 1
    want=$'\033]7428;1;approve;n='$nonce
    ((${#reply} >= ${#want})) && builtin test "${reply:${#reply}-${#want}}" = "$want" || return 1
    ((__sshgate_guard_hooked)) && IFS=$' \t\n' sshgate_guard_hook ran "$1"
    return 0
}

readonly -f __sshgate_guard_b64 __sshgate_guard_nonce __sshgate_guard_beat \
    __sshgate_guard_prompt __sshgate_guard_debug

# The prompt's marker runs first of PROMPT_COMMAND (an array since bash 5.1); PS0, expanded when
# a line has been read and before it runs, switches the ask's "at" back to "line".
PROMPT_COMMAND=(__sshgate_guard_prompt "${PROMPT_COMMAND[@]}")
PS0+='${__sshgate_guard_none[__sshgate_guard_phase=0]-}'
shopt -s extdebug
trap '\__sshgate_guard_debug "$BASH_COMMAND" "$SHELLOPTS" "${READLINE_LINE+bind}${COMP_LINE+complete}"' DEBUG

fi
