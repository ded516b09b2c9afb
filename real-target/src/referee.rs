//! What runs inside the target: the login script (sshd's `ForceCommand`) and each shell's
//! referee, the files that make the shell report every line it runs and each prompt as
//! records on the FIFO (see [`crate::records`]).
//!
//! Invariant: the referee only reports; with the dry run off, the shell runs every line as it
//! would for a user (`stty` and `trap` really act).

use std::path::{Path, PathBuf};

use crate::shell::Shell;
use crate::target::{StartError, TargetOptions};

/// Single-quoted for bash; the paths quoted here are the target's own, below its temporary
/// directory, which `$TMPDIR` could still put somewhere unquotable.
fn quoted(path: &Path) -> Result<String, StartError> {
    match path.to_str() {
        Some(text) if !text.contains('\'') => Ok(format!("'{text}'")),
        _ => Err(StartError::Failed(format!(
            "{}: the target's files need a path that is UTF-8 with no single quote (set TMPDIR)",
            path.display()
        ))),
    }
}

/// sshd's `ForceCommand`: records an exec request and runs it with `bash -c`, or starts the
/// interactive shell with its referee.
pub(crate) fn login_script(dir: &Path, options: &TargetOptions) -> Result<String, StartError> {
    let dry_run = if options.dry_run {
        "export REFEREE_DRY_RUN=1\n"
    } else {
        ""
    };
    let fifo = quoted(&dir.join("records.fifo"))?;
    let shell = match options.shell {
        Shell::Bash => format!(
            "exec bash --noprofile --rcfile {} -i",
            quoted(&dir.join("referee.bashrc"))?
        ),
        // zsh reads $ZDOTDIR/.zshrc; --no-globalrcs skips /etc/zsh/zshrc and the rest.
        Shell::Zsh => format!(
            "export ZDOTDIR={}\nexec zsh --no-globalrcs -i",
            quoted(&dir.join("zsh"))?
        ),
        Shell::Fish => format!(
            "export XDG_CONFIG_HOME={} XDG_DATA_HOME={}\nexec fish -i",
            quoted(&dir.join("fish-config"))?,
            quoted(&dir.join("fish-data"))?
        ),
        // dash's stderr (prompts, traces, errors) goes through the referee's filter, which
        // writes the rest to the terminal (its stdout).
        Shell::Dash => format!(
            "export ENV={}\nexec dash -i 2> >(exec perl {} {fifo})",
            quoted(&dir.join("referee.dashrc"))?,
            quoted(&dir.join("referee-filter.pl"))?
        ),
    };
    Ok(format!(
        r#"#!/bin/bash
# sshd's ForceCommand for every session of this target (the real-target crate's RealTarget).
# Readline's own defaults, not the distribution's /etc/inputrc.
export INPUTRC=/dev/null
{dry_run}if [[ -n ${{SSH_ORIGINAL_COMMAND+set}} ]]; then
    printf 'E%s\0' "$SSH_ORIGINAL_COMMAND" >{fifo}
    [[ -n ${{REFEREE_DRY_RUN-}} ]] && exit 0
    exec bash --norc --noprofile -c "$SSH_ORIGINAL_COMMAND"
fi
{shell}
"#
    ))
}

/// Write the shell's referee files into `dir`, with `fifo` as the records' way out; with a
/// guard, the guard and an rc file that sources it instead.
pub(crate) fn write_referee(
    dir: &Path,
    options: &TargetOptions,
    fifo: &Path,
) -> Result<(), StartError> {
    let fifo = quoted(fifo)?;
    let fill = |template: &str| template.replace("@FIFO@", &fifo);
    let guarded = |template: &str, guard: &str| -> Result<String, StartError> {
        let path = dir.join("guard.sh");
        std::fs::write(&path, guard)
            .map_err(|error| StartError::Failed(format!("cannot write the guard: {error}")))?;
        Ok(format!("{template}. {}\n", quoted(&path)?))
    };
    let files: Vec<(PathBuf, String)> = match (options.shell, &options.guard) {
        (Shell::Bash, Some(guard)) => {
            vec![(
                dir.join("referee.bashrc"),
                guarded(&fill(GUARDED_RC), guard)?,
            )]
        }
        (Shell::Zsh, Some(guard)) => {
            vec![(
                dir.join("zsh/.zshrc"),
                guarded(&fill(GUARDED_ZSHRC), guard)?,
            )]
        }
        (Shell::Bash, None) => vec![(dir.join("referee.bashrc"), fill(REFEREE_RC))],
        (Shell::Zsh, None) => vec![(dir.join("zsh/.zshrc"), fill(REFEREE_ZSHRC))],
        (Shell::Fish, _) => vec![(dir.join("fish-config/fish/config.fish"), fill(REFEREE_FISH))],
        (Shell::Dash, _) => vec![
            (dir.join("referee.dashrc"), REFEREE_DASHRC.to_string()),
            (
                dir.join("referee-filter.pl"),
                REFEREE_DASH_FILTER.to_string(),
            ),
        ],
    };
    for (path, text) in files {
        let parent = path.parent().unwrap_or(dir);
        std::fs::create_dir_all(parent)
            .and_then(|()| std::fs::write(&path, text))
            .map_err(|error| {
                StartError::Failed(format!("cannot write {}: {error}", path.display()))
            })?;
    }
    Ok(())
}

/// bash's rcfile with the guard, which is sourced after it: the referee's settings, and its
/// records from the guard's audit hook (docs/guard.md), called unasked after each approved
/// command and at each heartbeat; a command the guard skipped is never recorded. Records as
/// the referee's: a line when its first command runs.
const GUARDED_RC: &str = r#"# A guarded target (the real-target crate's RealTarget): the referee as the guard's hook.
unset HISTFILE
HISTSIZE=100000
HISTCONTROL=
HISTIGNORE=
PS1='$ '
PS2='> '
__referee_fifo=@FIFO@
__referee_last=
# As the referee's: a case's bound command may write a record of its own.
__referee_record() { printf '%s\0' "$1" >"$__referee_fifo"; }
sshgate_guard_hook() {
    local LC_ALL=C entry
    if [[ $1 == prompt ]]; then
        printf 'P\0' >"$__referee_fifo"
        return 0
    fi
    entry=$(HISTTIMEFORMAT= history 1)
    if [[ $entry =~ ^\ *([0-9]+)\*?\ \ (.*)$ && ${BASH_REMATCH[1]} != "$__referee_last" ]]; then
        __referee_last=${BASH_REMATCH[1]}
        printf 'L%s\0' "${BASH_REMATCH[2]}" >"$__referee_fifo"
    fi
}
"#;

/// zsh's `.zshrc` with the guard, which is sourced after it; records as [`GUARDED_RC`]'s, the
/// line from `$history[$HISTCMD]`.
const GUARDED_ZSHRC: &str = r#"# A guarded target (the real-target crate's RealTarget): the referee as the guard's hook.
unset HISTFILE
HISTSIZE=100000
SAVEHIST=0
PS1='$ '
PS2='> '
setopt zle interactive_comments
bindkey -e
zle_bracketed_paste=($'\e[?2004h' $'\e[?2004l')
zmodload zsh/parameter
typeset -g __referee_fifo=@FIFO@ __referee_last=
# As the referee's: a case's bound command may write a record of its own.
__referee_record() { print -rn -- "$1"$'\0' >$__referee_fifo }
sshgate_guard_hook() {
    if [[ $1 == prompt ]]; then
        print -rn -- $'P\0' >$__referee_fifo
    elif [[ $HISTCMD != $__referee_last && -n ${history[$HISTCMD]-} ]]; then
        __referee_last=$HISTCMD
        print -rn -- "L${history[$HISTCMD]}"$'\0' >$__referee_fifo
    fi
    return 0
}
"#;

/// bash's rcfile. Records: `L<line>`, `P`, NUL-terminated.
const REFEREE_RC: &str = r#"# The referee (the real-target crate's RealTarget): reports every line bash runs, and each prompt.
unset HISTFILE                  # no ~/.bash_history read or written
HISTSIZE=100000
HISTCONTROL=                    # every line goes to the history, even " cmd" and repeats
HISTIGNORE=
PS1='$ '
PS2='> '
__referee_fifo=@FIFO@
__referee_last=
__referee_record() { printf '%s\0' "$1" >"$__referee_fifo"; }
__referee_prompt() { __referee_record P; }
# Before each simple command (and for, case, [[, ((): when the newest history entry is one
# not reported yet, bash has accepted a new line; report its text.
__referee_debug() {
    # PROMPT_COMMAND's own commands, and (extdebug traces functions) the referee's functions.
    case $BASH_COMMAND in __referee_*) return 0 ;; esac
    [[ ${FUNCNAME[1]-} == __referee_* ]] && return 0
    # Bytes, not characters: in a UTF-8 locale the regex below matches no line with bytes that
    # are not UTF-8, and such lines must be reported too.
    local LC_ALL=C
    local entry
    entry=$(HISTTIMEFORMAT= history 1)
    if [[ $entry =~ ^\ *([0-9]+)\*?\ \ (.*)$ && ${BASH_REMATCH[1]} != "$__referee_last" ]]; then
        __referee_last=${BASH_REMATCH[1]}
        __referee_record "L${BASH_REMATCH[2]}"
    fi
    [[ -z ${REFEREE_DRY_RUN-} ]] && return 0
    # Dry run: abandon the whole line (a skipped `while` condition would loop forever), and
    # skip this command in case the interrupt comes late.
    kill -INT $$
    return 1
}
if [[ -n ${REFEREE_DRY_RUN-} ]]; then
    shopt -s extdebug           # a DEBUG trap returning non-zero skips the command
    PATH=
fi
PROMPT_COMMAND=__referee_prompt
trap __referee_debug DEBUG
"#;

/// zsh's `.zshrc` (in the private `ZDOTDIR`). Records as bash's.
const REFEREE_ZSHRC: &str = r#"# The referee (the real-target crate's RealTarget): reports every line zsh runs, and each prompt.
unset HISTFILE                  # no history read or written
HISTSIZE=100000
SAVEHIST=0
PS1='$ '
PS2='> '                        # zsh's own is '%_> ' (the open construct: "dquote> ")
setopt zle                      # on in an interactive shell on a tty; said, not assumed
bindkey -e                      # emacs keys (zsh would pick vi when $EDITOR names vi)
# zsh's default since 5.1, set in case a system file cleared it.
zle_bracketed_paste=($'\e[?2004h' $'\e[?2004l')
# As in bash, `cmd # note` ends at the comment (zsh's default reads `#` as a word); the corpus
# and the harness's own lines assume it.
setopt interactive_comments
__referee_fifo=@FIFO@
__referee_record() { printf '%s\0' "$1" >$__referee_fifo }
# preexec's $1 is the history line: as typed, after history expansion, before alias
# expansion ($3 is after it). bash's record is its history line too.
__referee_preexec() { __referee_record "L$1" }
__referee_precmd() { __referee_record P }
preexec_functions=(__referee_preexec)
precmd_functions=(__referee_precmd)
if [[ -n ${REFEREE_DRY_RUN-} ]]; then
    PATH=
    # A DEBUG trap that sets ERR_EXIT skips the command it runs before (zshbuiltins: trap);
    # the referee's own functions run.
    TRAPDEBUG() { [[ ${funcstack[2]-} == __referee_* ]] || setopt err_exit }
fi
"#;

/// fish's `config.fish` (in the private `XDG_CONFIG_HOME`). Records as bash's.
const REFEREE_FISH: &str = r#"# The referee (the real-target crate's RealTarget): reports every line fish runs, and each prompt.
set -g __referee_fifo @FIFO@
# No greeting: the first screen holds the prompt alone.
set -g fish_greeting
# No autosuggestions: the grey text fish draws right of the cursor (from the history or the
# file system) would read, on the screen, as part of the line.
set -g fish_autosuggestion_enabled 0
# Every prompt, redraws included: fish emits its fish_prompt event for a new command line
# only, not after Ctrl+C, where bash's PROMPT_COMMAND runs too.
function fish_prompt
    printf 'P\0' >$__referee_fifo
    echo -n '$ '
end
function __referee_preexec --on-event fish_preexec
    printf 'L%s\0' $argv[1] >$__referee_fifo
end
"#;

/// dash's `ENV` file: markers for the filter in front of each trace and each PS1 (0x1E, an
/// ASCII record separator, then `X` or `P`).
const REFEREE_DASHRC: &str = r#"# The referee (the real-target crate's RealTarget): dash's traces and prompts carry markers that
# referee-filter.pl turns into records.
PS1="$(printf '\036P')\$ "
PS2='> '
PS4="$(printf '\036X')"
set -x
"#;

/// The filter between dash's stderr and the terminal: `0x1E P` becomes a prompt record, `0x1E
/// X` up to the newline a line record; everything else goes to the terminal as it comes.
const REFEREE_DASH_FILTER: &str = r#"# The dash referee's filter (the real-target crate's RealTarget); see referee.dashrc.
use strict;
use warnings;
# It shares dash's process group: a Ctrl+C at the prompt, or output while a job has the
# terminal, must not stop it.
$SIG{$_} = 'IGNORE' for qw(INT QUIT TSTP TTIN TTOU);
my $fifo = shift;
open(my $records, '>', $fifo) or die "referee: $fifo: $!";
my $buffer = '';
while (sysread(STDIN, $buffer, 4096, length $buffer)) {
    while (length $buffer) {
        my $at = index($buffer, "\036");
        if ($at < 0) {
            syswrite(STDOUT, $buffer);
            $buffer = '';
            last;
        }
        syswrite(STDOUT, substr($buffer, 0, $at)) if $at > 0;
        substr($buffer, 0, $at) = '';
        last if length($buffer) < 2;
        my $tag = substr($buffer, 1, 1);
        if ($tag eq 'P') {
            syswrite($records, "P\0");
            substr($buffer, 0, 2) = '';
        } elsif ($tag eq 'X') {
            my $end = index($buffer, "\n");
            last if $end < 0;
            syswrite($records, 'L' . substr($buffer, 2, $end - 2) . "\0");
            substr($buffer, 0, $end + 1) = '';
        } else {
            syswrite(STDOUT, substr($buffer, 0, 1));
            substr($buffer, 0, 1) = '';
        }
    }
}
"#;
