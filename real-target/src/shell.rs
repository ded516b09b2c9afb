//! The shells a [`RealTarget`](crate::RealTarget) can run behind sshd, and whether this
//! machine can run them at all ([`available`]): a missing program is an [`Unavailable`], with
//! the command that installs it, never a failed start.

use std::fmt;
use std::path::Path;
use std::process::{Command, Stdio};

use crate::sshd::{PRIVSEP_DIR, SSHD};

/// The interactive shell a [`RealTarget`](crate::RealTarget) runs for a PTY session (exec
/// requests always run with `bash -c`: only the interactive shell changes).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum Shell {
    #[default]
    Bash,
    Zsh,
    Fish,
    Dash,
}

impl Shell {
    pub const ALL: [Shell; 4] = [Shell::Bash, Shell::Zsh, Shell::Fish, Shell::Dash];

    /// The program's name, which is also the package that installs it.
    pub fn name(self) -> &'static str {
        match self {
            Shell::Bash => "bash",
            Shell::Zsh => "zsh",
            Shell::Fish => "fish",
            Shell::Dash => "dash",
        }
    }

    /// The shell called `name`, if it is one of [`ALL`](Self::ALL).
    pub fn from_name(name: &str) -> Option<Shell> {
        Shell::ALL.into_iter().find(|shell| shell.name() == name)
    }

    /// Whether the referee can record lines without running them.
    pub fn has_dry_run(self) -> bool {
        matches!(self, Shell::Bash | Shell::Zsh)
    }
}

impl fmt::Display for Shell {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why the real target cannot run on this machine: what is missing and how to install it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unavailable(pub String);

impl fmt::Display for Unavailable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Unavailable {}

/// Err when this machine cannot run the real target with `shell`.
pub fn available(shell: Shell) -> Result<(), Unavailable> {
    if !Path::new(SSHD).exists() {
        return Err(Unavailable(
            "sshd not installed: apt-get install openssh-server".into(),
        ));
    }
    if !Path::new(PRIVSEP_DIR).is_dir() {
        return Err(Unavailable(format!(
            "sshd's privilege-separation directory is missing: mkdir -p {PRIVSEP_DIR}"
        )));
    }
    // bash runs the login script and every exec request, whatever the interactive shell.
    let mut needed = vec![("bash", "bash")];
    if shell != Shell::Bash {
        needed.push((shell.name(), shell.name()));
    }
    if shell == Shell::Dash {
        // The dash referee's filter (perl-base is Essential on Debian).
        needed.push(("perl", "perl-base"));
    }
    for (program, package) in needed {
        let probe: &[&str] = if program == "perl" {
            &["-e", "1"]
        } else {
            &["-c", "true"]
        };
        let runs = Command::new(program)
            .args(probe)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|status| status.success());
        if !runs {
            return Err(Unavailable(format!(
                "{program} not installed: apt-get install {package}"
            )));
        }
    }
    Ok(())
}
