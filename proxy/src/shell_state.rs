//! Commands that change how the shell reads or runs later input.
//!
//! The gate sees keys and the screen; a shell's state decides what they do. An approved
//! `bind -x` makes a key run a command, a macro makes a key type a newline, `PROMPT_COMMAND`
//! runs at every prompt, an alias or function changes what a harmless-looking line runs,
//! `set -o vi` changes every key, `stty` changes which keys submit or interrupt, a locale
//! changes how bytes are read, `fc`/`history -s` rerun lines the approver never saw. None of
//! that shows in later keystrokes, so the approver is told when a command does it
//! ([`warnings`]), and after one is approved every later request of the session is uncertain.
//!
//! Recognition is by name, over the simple commands of the line as a shell would split them
//! (quotes, `;`, `&&`, `||`, `|`, `&`, newlines, subshells and command substitutions), so it
//! can be fooled by indirection the text does not show (`$cmd`, `eval "$(...)"` is caught as
//! `eval`). It errs on the side of warning.

/// Human-readable warnings for `command`, one per kind of change, in order of appearance.
pub fn warnings(command: &str) -> Vec<String> {
    let mut found: Vec<String> = Vec::new();
    for words in simple_commands(command) {
        for warning in command_warnings(&words) {
            if !found.iter().any(|known| known == warning) {
                found.push(warning.to_string());
            }
        }
    }
    found
}

/// Whether a command with these `warnings` may have bound keys to commands, directly or through
/// code it runs or an init file it names.
pub fn may_bind_keys(warnings: &[String]) -> bool {
    warnings
        .iter()
        .any(|warning| [BINDINGS, REPLACES, INIT_FILE].contains(&warning.as_str()))
}

const BINDINGS: &str = "changes what keys do: a key may now run a command or type a newline \
                        that no submit shows";
const EDITING_MODE: &str = "changes the line editor's mode: the proxy models emacs keys only";
const OPTIONS: &str = "changes shell options that decide how lines are read or expanded";
const TRAPS: &str = "sets a trap: a command may run on a signal, an error or before every \
                     command";
const TTY: &str = "changes terminal modes: which keys submit, erase, interrupt or echo";
const LOCALE: &str = "changes the locale: how the shell reads bytes as keys";
const HOOKS: &str = "sets a prompt or command hook: commands may run at every prompt";
const ALIASES: &str = "defines an alias or a function: a later line may run something else \
                       than it says";
const HISTORY: &str = "changes or reruns history: a line may run what the approver never saw";
const REPLACES: &str = "replaces or extends the shell's code (exec, source, eval): anything \
                        may follow";
const INIT_FILE: &str = "changes the line editor's init file or history characters";
const CONTINUATION_PROMPT: &str = "changes the continuation prompt, by which sshgate tells a \
                                   command continued on the next line";
const NAMEREF: &str = "makes a name refer to another variable: a later assignment to it may \
                       change anything above";
/// Stands for a value the line does not show (`read`, `printf -v`): it may hold anything.
const UNSEEN_VALUE: &str = "$(unseen)";

/// The warnings for one simple command, given as its words (quotes removed).
fn command_warnings(words: &[String]) -> Vec<&'static str> {
    let mut found = Vec::new();
    let mut rest = words;
    // Assignments before the command name (or alone).
    while let Some((name, value)) = rest.first().and_then(|word| assignment(word)) {
        found.extend(variable_warning(name, value));
        rest = &rest[1..];
    }
    // Words that run the next word as the command.
    while let Some(first) = rest.first() {
        if matches!(
            first.as_str(),
            "builtin" | "command" | "noglob" | "nocorrect" | "nohup"
        ) {
            rest = &rest[1..];
        } else {
            break;
        }
    }
    let Some(name) = rest.first() else {
        return found;
    };
    let args = &rest[1..];
    let warning = match name.as_str() {
        "bind" | "bindkey" | "zle" | "inputrc" => Some(BINDINGS),
        "set" if args.iter().any(|arg| arg == "vi" || arg == "emacs") => Some(EDITING_MODE),
        "set" | "setopt" | "unsetopt" | "shopt" | "enable" | "disable" => Some(OPTIONS),
        "trap" | "TRAPDEBUG" => Some(TRAPS),
        "stty" | "tput" | "reset" => Some(TTY),
        "declare" | "typeset" | "local" if args.iter().any(|arg| is_flag(arg, 'n')) => {
            Some(NAMEREF)
        }
        "export" | "declare" | "typeset" | "local" | "readonly" | "set_var" => args
            .iter()
            .filter_map(|arg| assignment(arg))
            .find_map(|(name, value)| variable_warning(name, value)),
        "alias" | "unalias" | "function" | "functions" | "abbr" | "autoload" => Some(ALIASES),
        "fc" | "history" | "r" => Some(HISTORY),
        // Builtins that assign to variables they name.
        "printf" | "read" | "mapfile" | "readarray" => {
            return found
                .into_iter()
                .chain(
                    assigned_names(name, args)
                        .filter_map(|name| variable_warning(name, UNSEEN_VALUE)),
                )
                .collect();
        }
        "exec" | "source" | "." | "eval" | "emulate" => Some(REPLACES),
        "add-zsh-hook" | "precmd" | "preexec" | "chpwd" => Some(HOOKS),
        "complete" | "compdef" | "compctl" => Some(BINDINGS),
        "fish_vi_key_bindings" | "fish_default_key_bindings" | "fish_hybrid_key_bindings" => {
            Some(EDITING_MODE)
        }
        _ if name.ends_with("()") => Some(ALIASES),
        _ => None,
    };
    found.extend(warning);
    found
}

/// What assigning `value` to the variable `name` changes, if anything the gate depends on.
fn variable_warning(name: &str, value: &str) -> Option<&'static str> {
    match name {
        // bash's and zsh's tables of aliases and functions, set element by element.
        "BASH_ALIASES" | "BASH_CMDS" | "aliases" | "galiases" | "saliases" | "functions"
        | "dis_functions" => Some(ALIASES),
        "PROMPT_COMMAND" | "PS0" | "PS4" | "precmd_functions" | "preexec_functions"
        | "chpwd_functions" | "fish_prompt" => Some(HOOKS),
        // A prompt runs what it substitutes each time it is drawn.
        "PS1" | "PS2" | "PROMPT" | "RPROMPT" | "RPS1"
            if value.contains("$(") || value.contains('`') =>
        {
            Some(HOOKS)
        }
        "PS2" | "PROMPT2" => Some(CONTINUATION_PROMPT),
        "LANG" | "LC_ALL" | "LC_CTYPE" | "LC_MESSAGES" => Some(LOCALE),
        "INPUTRC" | "histchars" | "HISTCONTROL" | "HISTIGNORE" | "HISTFILE" => Some(INIT_FILE),
        "BASH_ENV" | "ENV" | "PATH" | "FPATH" | "fpath" | "path" => Some(REPLACES),
        // zsh's `options` array sets options as `setopt` does.
        "IGNOREEOF"
        | "TMOUT"
        | "FCEDIT"
        | "EDITOR"
        | "VISUAL"
        | "options"
        | "zle_bracketed_paste" => Some(OPTIONS),
        _ => None,
    }
}

/// Whether `arg` is an option word holding the single-letter option `letter` (`-n`, `-gn`).
fn is_flag(arg: &str, letter: char) -> bool {
    arg.strip_prefix('-')
        .is_some_and(|flags| !flags.is_empty() && flags.chars().all(|c| c.is_ascii_alphabetic()))
        && arg.contains(letter)
}

/// The variables `printf -v NAME`, `read NAME...` and `mapfile NAME` assign to, by the
/// arguments of `builtin` (option values skipped where bash's options take one).
fn assigned_names<'a>(builtin: &str, args: &'a [String]) -> impl Iterator<Item = &'a str> {
    let mut names = Vec::new();
    let mut words = args.iter().map(String::as_str);
    while let Some(word) = words.next() {
        match builtin {
            "printf" if word == "-v" => names.extend(words.next()),
            "printf" => {}
            // Options whose value is the next word; `read -a NAME` names an array.
            "read" if word == "-a" => names.extend(words.next()),
            "read" if ["-d", "-i", "-n", "-N", "-p", "-t", "-u"].contains(&word) => {
                words.next();
            }
            _ if ["-d", "-n", "-O", "-s", "-u", "-C", "-c"].contains(&word) => {
                words.next();
            }
            _ if word.starts_with('-') => {}
            _ => names.push(word),
        }
    }
    names
        .into_iter()
        .map(|name| name.split('[').next().unwrap_or(name))
}

/// `NAME=value` (or `NAME+=value`, `NAME[i]=value`) split into name and value.
fn assignment(word: &str) -> Option<(&str, &str)> {
    let (name, value) = word.split_once('=')?;
    let name = name.trim_end_matches('+');
    let name = name.split('[').next().unwrap_or(name);
    let valid = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    valid.then_some((name, value))
}

/// The line split into simple commands, each as its words with quotes removed. Command
/// substitutions, subshells and braces start new commands, so a `bind` inside `$(...)` or
/// `{ ...; }` is found too.
fn simple_commands(text: &str) -> Vec<Vec<String>> {
    let mut commands = Vec::new();
    let mut words: Vec<String> = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = text.chars().peekable();
    let end_word = |words: &mut Vec<String>, word: &mut String, in_word: &mut bool| {
        if *in_word {
            words.push(std::mem::take(word));
            *in_word = false;
        }
    };
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                if let Some(next) = chars.next() {
                    if next != '\n' {
                        word.push(next);
                        in_word = true;
                    }
                }
            }
            '\'' => {
                in_word = true;
                for inner in chars.by_ref() {
                    if inner == '\'' {
                        break;
                    }
                    word.push(inner);
                }
            }
            '"' => {
                in_word = true;
                while let Some(inner) = chars.next() {
                    match inner {
                        '"' => break,
                        '\\' => word.extend(chars.next()),
                        _ => word.push(inner),
                    }
                }
            }
            ' ' | '\t' => end_word(&mut words, &mut word, &mut in_word),
            ';' | '&' | '|' | '\n' | '(' | ')' | '{' | '}' | '`' => {
                // `name()` and `name ()` end in one word `name()`, so that a function
                // definition is seen as such.
                if c == '(' && chars.peek() == Some(&')') {
                    chars.next();
                    if in_word {
                        word.push_str("()");
                        continue;
                    }
                    if let Some(last) = words.last_mut() {
                        last.push_str("()");
                        continue;
                    }
                }
                end_word(&mut words, &mut word, &mut in_word);
                if !words.is_empty() {
                    commands.push(std::mem::take(&mut words));
                }
            }
            '$' if chars.peek() == Some(&'(') => {
                chars.next();
                end_word(&mut words, &mut word, &mut in_word);
                if !words.is_empty() {
                    commands.push(std::mem::take(&mut words));
                }
            }
            _ => {
                word.push(c);
                in_word = true;
            }
        }
    }
    end_word(&mut words, &mut word, &mut in_word);
    if !words.is_empty() {
        commands.push(words);
    }
    commands
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case::bind_x(r#"bind -x '"\C-t": "echo hi"'"#, BINDINGS)]
    #[case::bind_macro(r#"bind '"\C-y": "rm -rf /\n"'"#, BINDINGS)]
    #[case::bindkey("bindkey -s '^T' 'ls\\n'", BINDINGS)]
    #[case::vi_mode("set -o vi", EDITING_MODE)]
    #[case::history_option("set +H", OPTIONS)]
    #[case::shopt("shopt -s histverify", OPTIONS)]
    #[case::trap("trap 'echo x' DEBUG", TRAPS)]
    #[case::stty("stty -echo", TTY)]
    #[case::locale("export LC_ALL=C", LOCALE)]
    #[case::locale_alone("LANG=C", LOCALE)]
    #[case::prompt_command("PROMPT_COMMAND='echo hi'", HOOKS)]
    #[case::prompt_command_appended("PROMPT_COMMAND+=(x)", HOOKS)]
    #[case::prompt_substitution("PS1='$(date) $ '", HOOKS)]
    #[case::precmd("precmd() { echo hi; }", ALIASES)]
    #[case::zsh_hook("add-zsh-hook precmd f", HOOKS)]
    #[case::alias("alias ls='rm -rf'", ALIASES)]
    #[case::function_keyword("function ls { rm -rf /; }", ALIASES)]
    #[case::function_spaced("ls () { :; }", ALIASES)]
    #[case::fc("fc -s", HISTORY)]
    #[case::history_s("history -s 'echo DENY'", HISTORY)]
    #[case::exec("exec zsh", REPLACES)]
    #[case::source(". ./x.sh", REPLACES)]
    #[case::eval("eval \"$x\"", REPLACES)]
    #[case::after_and("true && bind -x x", BINDINGS)]
    #[case::in_substitution("echo $(bind -x x)", BINDINGS)]
    #[case::in_braces("{ alias a=b; }", ALIASES)]
    #[case::builtin_prefix("builtin bind -x x", BINDINGS)]
    #[case::quoted_name("'bind' -x x", BINDINGS)]
    #[case::inputrc("INPUTRC=/tmp/x bash", INIT_FILE)]
    #[case::zsh_options_array("options[interactivecomments]=off", OPTIONS)]
    #[case::bash_aliases_array("BASH_ALIASES[ls]='rm -rf /'", ALIASES)]
    #[case::zsh_aliases_array("aliases[ls]='rm -rf /'", ALIASES)]
    #[case::printf_v("printf -v PS0 %s '$(x)'", HOOKS)]
    #[case::read_into("read -r PROMPT_COMMAND", HOOKS)]
    #[case::mapfile_into("mapfile -t BASH_ALIASES", ALIASES)]
    #[case::nameref("declare -n p=PS0", NAMEREF)]
    #[case::continuation_prompt("PS2=", CONTINUATION_PROMPT)]
    fn state_changing_commands_are_warned_of(#[case] command: &str, #[case] expected: &str) {
        assert_eq!(warnings(command), [expected], "{command}");
    }

    #[rstest]
    #[case::plain("ls -la")]
    #[case::word_in_argument("echo bind alias trap")]
    #[case::quoted_semicolon("echo 'a; bind -x'")]
    #[case::plain_prompt("PS1='$ '")]
    #[case::other_variable("export FOO=bar")]
    #[case::grep("grep -r alias .")]
    fn ordinary_commands_are_not(#[case] command: &str) {
        assert_eq!(warnings(command), Vec::<String>::new(), "{command}");
    }

    #[test]
    fn each_kind_is_warned_of_once() {
        assert_eq!(warnings("alias a=b; alias c=d; stty sane"), [ALIASES, TTY]);
    }
}
