//! `coffer`: a command-line client for cofferd, or AWS KMS, over the AWS KMS protocol.
//!
//! Exit codes: 0 done, 1 the service refused (`ERROR_CODE: message` on stderr), 2 usage
//! errors (clap's, and input refused before sending), 3 I/O, configuration or connection
//! errors. docs/CLI.md describes every command.
#![forbid(unsafe_code)]

mod audit;
mod cli;
mod credentials;
mod envelope;
mod failure;
mod local;
mod output;
mod run;

use std::io::Write;
use std::process::ExitCode;

use clap::{CommandFactory, Parser};

use zeroize::Zeroizing;

use crate::cli::{Cli, Command, PolicyCmd};
use crate::failure::Failure;

fn main() -> ExitCode {
    // clap prints help and --version (exit 0) and usage errors (exit 2) itself.
    let cli = Cli::parse();
    // Its own exit statuses (0 verified, 1 not, 2 unusable), as cofferd's.
    if let Command::Audit(a) = &cli.command {
        return audit::run(&cli.global, a);
    }
    match execute(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            let _ = writeln!(std::io::stderr().lock(), "{f}");
            ExitCode::from(f.exit_code())
        }
    }
}

fn execute(cli: Cli) -> Result<(), Failure> {
    let out = cli.global.output;
    // What needs no service, and the checks made before anything is read or sent.
    match &cli.command {
        Command::Completions { shell } => {
            let mut buf = Vec::new();
            clap_complete::generate(*shell, &mut Cli::command(), "coffer", &mut buf);
            return output::emit(&String::from_utf8_lossy(&buf));
        }
        Command::Man { dir } => return man(dir.as_deref()),
        // A blocking client of cofferd's admin API.
        Command::Credentials(a) => return credentials::run(&cli.global, a),
        Command::Envelope(e) => {
            // --data-dir: the data directory opened in process, as for every other command.
            let local = local::open(&cli.global.local)?;
            let outcome = envelope::run(&cli.global, local.as_ref(), e);
            return match local {
                Some(svc) => outcome.and(local::close(svc)),
                None => outcome,
            };
        }
        _ => {}
    }
    // Input is read and checked before the service is looked for.
    let mut input = Zeroizing::new(Vec::new());
    let mut policy = String::new();
    match &cli.command {
        Command::Encrypt(a) => {
            run::check_encrypt(a, out)?;
            input = run::read_plaintext(a)?;
        }
        Command::Decrypt(a) => {
            run::check_decrypt(a, out)?;
            input = Zeroizing::new(run::read_ciphertext(a)?);
        }
        Command::Policy(PolicyCmd::Put { file, .. }) => policy = run::read_policy(file)?,
        _ => {}
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::io("starting the runtime", &e))?;
    // --data-dir: the data directory opened in process, before anything is sent.
    let local = local::open(&cli.global.local)?;
    let outcome = rt.block_on(async {
        let c = match &local {
            Some(svc) => local::client(svc),
            None => run::client(&cli.global).await?,
        };
        match cli.command {
            Command::Key(k) => run::key(&c, out, k).await,
            Command::Alias(a) => run::alias(&c, out, a).await,
            Command::Tag(t) => run::tag(&c, out, t).await,
            Command::Policy(p) => run::policy(&c, out, p, policy).await,
            Command::Grant(g) => run::grant(&c, out, g).await,
            Command::Encrypt(a) => run::encrypt(&c, out, a, &input).await,
            Command::Decrypt(a) => run::decrypt(&c, out, a, input.to_vec()).await,
            Command::Completions { .. }
            | Command::Man { .. }
            | Command::Credentials(_)
            | Command::Audit(_)
            | Command::Envelope(_) => Ok(()),
        }
    });
    // The client (and its hold on the service) is gone: the audit log closes with a digest.
    match local {
        Some(svc) => outcome.and(local::close(svc)),
        None => outcome,
    }
}

/// `coffer man`: the top page on stdout, or every page into `dir`.
fn man(dir: Option<&std::path::Path>) -> Result<(), Failure> {
    let cmd = Cli::command();
    match dir {
        Some(dir) => std::fs::create_dir_all(dir)
            .and_then(|()| clap_mangen::generate_to(cmd, dir))
            .map_err(|e| Failure::io(&format!("writing man pages into {}", dir.display()), &e)),
        None => {
            let mut buf = Vec::new();
            clap_mangen::Man::new(cmd)
                .render(&mut buf)
                .map_err(|e| Failure::io("rendering the man page", &e))?;
            output::emit(&String::from_utf8_lossy(&buf))
        }
    }
}
