//! `coffer envelope encrypt|decrypt`: data of any size in coffer's envelope format
//! (docs/ENVELOPE.md), streamed in bounded memory through the remote keyring
//! (`coffer-kms-keyring`): one GenerateDataKey (and one Encrypt per further key) to encrypt, one
//! Decrypt to decrypt, whatever the size. `--format esdk` writes the AWS Encryption SDK's
//! message format v2 instead (docs/ESDK.md); decrypt tells the two formats apart by their first
//! bytes.

use std::fs::File;
use std::io::{self, BufWriter, IsTerminal, Read, Write};
use std::path::{Path, PathBuf};

use clap::{Args, Subcommand, ValueEnum};
use coffer_core::EncryptionContext;
use coffer_envelope::esdk::{
    self, EsdkDecryptOptions, EsdkDecryptingReader, EsdkEncryptOptions, EsdkError, EsdkSuite,
};
use coffer_envelope::{
    DecryptOptions, DecryptingReader, EncryptOptions, EncryptingWriter, EnvelopeError,
    ProviderError,
};
use coffer_kms_keyring::{codes, BlockingKmsKeyring, KmsKeyring};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use zeroize::Zeroizing;

use crate::cli::{parse_pair, Global};
use crate::failure::Failure;

/// How much is read or written at a time (the envelope's default frame length).
const CHUNK: usize = 64 * 1024;

/// What `coffer envelope --help` adds below the commands.
const ENVELOPE_HELP: &str = "\
Exit codes: 0 done; 1 the service refused a key (its error code, e.g.
AccessDeniedException), or the message was refused (ContextMismatch,
InvalidMessage: tampered, truncated, not an envelope message); 2 usage;
3 I/O, configuration or connection errors.

With --out FILE, the output goes to a temporary file in FILE's directory,
renamed to FILE only once the whole message is done (removed on failure). Without --out,
decrypt writes each frame to stdout once it is authenticated: a failure
mid-stream exits non-zero after writing only authentic plaintext, which may be
incomplete.";

#[derive(Debug, Subcommand)]
#[command(after_help = ENVELOPE_HELP)]
pub(crate) enum EnvelopeCmd {
    /// Encrypt a file or stdin of any size under one or more KMS keys (any one of them opens it)
    Encrypt(EncryptArgs),
    /// Decrypt a message made by `coffer envelope encrypt` (or coffer-envelope)
    Decrypt(DecryptArgs),
}

/// `coffer envelope encrypt`.
#[derive(Debug, Args)]
pub(crate) struct EncryptArgs {
    /// A key to wrap the data key under: key id, key ARN, alias name or alias ARN (repeat for
    /// more; the first generates the data key, any one opens the message)
    #[arg(long = "key-id", required = true, value_name = "KEY")]
    pub(crate) key_ids: Vec<String>,
    /// An encryption context pair, needed again to decrypt (repeat for more)
    #[arg(long = "context", value_name = "KEY=VALUE", value_parser = parse_pair)]
    pub(crate) context: Vec<(String, String)>,
    /// Write the message to FILE (created mode 0600, replaced only on success) instead of
    /// stdout (which must not be a terminal)
    #[arg(short = 'o', long = "out", value_name = "FILE")]
    pub(crate) out: Option<PathBuf>,
    /// The message format: coffer's (streamed in bounded memory), or the AWS Encryption SDK's
    /// message format v2 with the ESDK's default suite 0x0578 (ECDSA P-384 signed; the input
    /// is read whole into memory) or its unsigned suite 0x0478
    #[arg(long, value_enum, default_value_t = Format::Coffer)]
    pub(crate) format: Format,
    /// The plaintext: a file, or - for stdin
    #[arg(value_name = "FILE|-")]
    pub(crate) input: String,
}

/// The message formats `coffer envelope encrypt` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Format {
    /// coffer's envelope format (docs/ENVELOPE.md)
    Coffer,
    /// the AWS Encryption SDK's message format v2, suite 0x0578 (signed)
    Esdk,
    /// the AWS Encryption SDK's message format v2, suite 0x0478 (unsigned)
    EsdkUnsigned,
}

/// The largest plaintext `--format esdk` takes (read whole into memory).
const MAX_ESDK_INPUT: u64 = 1 << 30;

/// `coffer envelope decrypt`.
#[derive(Debug, Args)]
pub(crate) struct DecryptArgs {
    /// The encryption context given to encrypt (repeat for more); the message's must be
    /// exactly this (an ESDK message's must contain these pairs, as the ESDK checks it)
    #[arg(long = "context", value_name = "KEY=VALUE", value_parser = parse_pair)]
    pub(crate) context: Vec<(String, String)>,
    /// Write the plaintext to FILE (created mode 0600, replaced only once the whole message
    /// authenticated) instead of stdout
    #[arg(short = 'o', long = "out", value_name = "FILE")]
    pub(crate) out: Option<PathBuf>,
    /// The message: a file, or - for stdin
    #[arg(value_name = "FILE|-")]
    pub(crate) input: String,
}

/// Runs `coffer envelope …` on this (non-async) thread: the keyring blocks on a runtime of its
/// own for its few requests, and the data streams through in `CHUNK`s.
pub(crate) fn run(
    global: &Global,
    local: Option<&std::sync::Arc<cofferd::LocalService>>,
    cmd: &EnvelopeCmd,
) -> Result<(), Failure> {
    let (input, out) = match cmd {
        EnvelopeCmd::Encrypt(a) => (&a.input, &a.out),
        EnvelopeCmd::Decrypt(a) => (&a.input, &a.out),
    };
    if matches!(cmd, EnvelopeCmd::Encrypt(_)) && out.is_none() && io::stdout().is_terminal() {
        return Err(Failure::Usage(
            "refusing to write a binary message to a terminal: give --out FILE or redirect stdout"
                .into(),
        ));
    }
    let (reader, len) = open_input(input)?;
    let keyring = keyring(global, local)?;
    let progress = progress_bar(len);
    let reader = progress.wrap_read(reader);
    let mut sink = Sink::open(out.as_deref())?;
    let r = match cmd {
        EnvelopeCmd::Encrypt(a) if a.format == Format::Coffer => {
            encrypt(&keyring, a, reader, &mut sink)
        }
        EnvelopeCmd::Encrypt(a) => encrypt_esdk(&keyring, a, reader, &mut sink),
        EnvelopeCmd::Decrypt(a) => decrypt_any(&keyring, a, reader, &mut sink),
    };
    progress.finish_and_clear();
    r?;
    sink.commit()
}

fn encrypt(
    keyring: &BlockingKmsKeyring,
    a: &EncryptArgs,
    mut reader: impl Read,
    sink: &mut Sink,
) -> Result<(), Failure> {
    let context = context_of(&a.context);
    let key_ids: Vec<&str> = a.key_ids.iter().map(String::as_str).collect();
    let out = format!("writing {}", sink.name());
    let mut w = EncryptingWriter::new(keyring, &key_ids, &context, &EncryptOptions::new(), sink)
        .map_err(|e| refused(e, &out))?;
    let mut buf = Zeroizing::new(vec![0u8; CHUNK]);
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(Failure::io(&format!("reading {}", name(&a.input)), &e)),
        };
        let chunk = buf.get(..n).unwrap_or_default();
        w.write_all(chunk)
            .map_err(|e| refused(EnvelopeError::from(e), &out))?;
    }
    w.finish().map_err(|e| refused(e, &out))?;
    Ok(())
}

/// An ESDK message: the whole plaintext read (bounded), sealed under the keys, written.
fn encrypt_esdk(
    keyring: &BlockingKmsKeyring,
    a: &EncryptArgs,
    reader: impl Read,
    sink: &mut Sink,
) -> Result<(), Failure> {
    let what = format!("reading {}", name(&a.input));
    let mut plaintext = Zeroizing::new(Vec::new());
    reader
        .take(MAX_ESDK_INPUT + 1)
        .read_to_end(&mut plaintext)
        .map_err(|e| Failure::io(&what, &e))?;
    if plaintext.len() as u64 > MAX_ESDK_INPUT {
        return Err(Failure::Usage(format!(
            "--format esdk reads the whole input into memory: at most {MAX_ESDK_INPUT} bytes"
        )));
    }
    let suite = match a.format {
        Format::EsdkUnsigned => EsdkSuite::Aes256GcmHkdfSha512CommitKey,
        _ => EsdkSuite::Aes256GcmHkdfSha512CommitKeyEcdsaP384,
    };
    let ring = esdk::KmsKeyring::new(keyring, a.key_ids.iter().cloned());
    let message = esdk::encrypt(
        &ring,
        &context_of(&a.context),
        &plaintext,
        &EsdkEncryptOptions::new().with_suite(suite),
    )
    .map_err(|e| esdk_refused(e, &format!("writing {}", sink.name())))?;
    sink.write_all(&message)
        .map_err(|e| Failure::io(&format!("writing {}", sink.name()), &e))
}

/// Decrypts either format, told apart by the first bytes: coffer's starts with its magic,
/// an ESDK v2 message with the version byte 0x02.
fn decrypt_any(
    keyring: &BlockingKmsKeyring,
    a: &DecryptArgs,
    mut reader: impl Read,
    sink: &mut Sink,
) -> Result<(), Failure> {
    let mut first = [0u8; 1];
    let n = loop {
        match reader.read(&mut first) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            r => break r.map_err(|e| Failure::io(&format!("reading {}", name(&a.input)), &e))?,
        }
    };
    let reader = io::Cursor::new(first[..n].to_vec()).chain(reader);
    if n == 1 && first[0] == esdk::ESDK_VERSION {
        decrypt_esdk(keyring, a, reader, sink)
    } else {
        decrypt(keyring, a, reader, sink)
    }
}

fn decrypt_esdk(
    keyring: &BlockingKmsKeyring,
    a: &DecryptArgs,
    reader: impl Read,
    sink: &mut Sink,
) -> Result<(), Failure> {
    let input = format!("reading {}", name(&a.input));
    // Any `aws-kms` data key the service lets this caller decrypt, as coffer's own format.
    let ring = esdk::KmsKeyring::discovery(keyring);
    let options = EsdkDecryptOptions::new().require_context(context_of(&a.context));
    let mut r =
        EsdkDecryptingReader::new(&ring, reader, &options).map_err(|e| esdk_refused(e, &input))?;
    let mut buf = Zeroizing::new(vec![0u8; CHUNK]);
    loop {
        let n = match r.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                let e = match e.get_ref().and_then(|i| i.downcast_ref::<EsdkError>()) {
                    Some(_) => e
                        .into_inner()
                        .and_then(|i| i.downcast::<EsdkError>().ok())
                        .map_or(EsdkError::Poisoned, |b| *b),
                    None => EsdkError::Io(e),
                };
                return Err(esdk_refused(e, &input));
            }
        };
        let chunk = buf.get(..n).unwrap_or_default();
        sink.write_all(chunk)
            .map_err(|e| Failure::io(&format!("writing {}", sink.name()), &e))?;
    }
}

/// An ESDK failure as the CLI reports it, as [`refused`] does for coffer's format.
fn esdk_refused(e: EsdkError, io: &str) -> Failure {
    match e {
        EsdkError::Provider { key_id, source } => provider(&source, Some(&key_id)),
        EsdkError::NoDecryptableDataKey {
            last: Some(source), ..
        } => provider(&source, None),
        EsdkError::NoDecryptableDataKey { last: None, .. } => Failure::Service {
            code: "NoDecryptableDataKey".into(),
            message: "no encrypted data key of the message could be tried".into(),
        },
        EsdkError::ContextMismatch => Failure::Service {
            code: "ContextMismatch".into(),
            message: "the message's encryption context lacks a pair given with --context".into(),
        },
        EsdkError::Io(e) => Failure::io(io, &e),
        EsdkError::InvalidArgument(what) => Failure::Usage(what.to_owned()),
        other => Failure::Service {
            code: "InvalidMessage".into(),
            message: other.to_string(),
        },
    }
}

fn decrypt(
    keyring: &BlockingKmsKeyring,
    a: &DecryptArgs,
    reader: impl Read,
    sink: &mut Sink,
) -> Result<(), Failure> {
    let options = DecryptOptions::new().expect_context(context_of(&a.context));
    let input = format!("reading {}", name(&a.input));
    let mut r = DecryptingReader::new(keyring, reader, &options).map_err(|e| refused(e, &input))?;
    let mut buf = Zeroizing::new(vec![0u8; CHUNK]);
    loop {
        let n = match r.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(refused(EnvelopeError::from(e), &input)),
        };
        let chunk = buf.get(..n).unwrap_or_default();
        sink.write_all(chunk)
            .map_err(|e| Failure::io(&format!("writing {}", sink.name()), &e))?;
    }
}

/// The keyring, with a client configured as every other command's is.
fn keyring(
    global: &Global,
    local: Option<&std::sync::Arc<cofferd::LocalService>>,
) -> Result<BlockingKmsKeyring, Failure> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::io("starting the runtime", &e))?;
    let client = match local {
        Some(svc) => crate::local::client(svc),
        None => rt.block_on(crate::run::client(global))?,
    };
    Ok(BlockingKmsKeyring::with_runtime(
        KmsKeyring::new(client),
        rt,
    ))
}

/// `path` (`-`: stdin) for reading, and its length when it is a regular file.
fn open_input(path: &str) -> Result<(Box<dyn Read>, Option<u64>), Failure> {
    if path == "-" {
        return Ok((Box::new(io::stdin().lock()), None));
    }
    let f = File::open(path).map_err(|e| Failure::io(&format!("opening {path}"), &e))?;
    let len = f
        .metadata()
        .ok()
        .filter(std::fs::Metadata::is_file)
        .map(|m| m.len());
    Ok((Box::new(io::BufReader::with_capacity(CHUNK, f)), len))
}

/// A progress bar on stderr when it is a terminal; nothing otherwise.
fn progress_bar(len: Option<u64>) -> ProgressBar {
    if !io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(len, ProgressDrawTarget::stderr());
    let style = match len {
        Some(_) => ProgressStyle::with_template(
            "{bytes}/{total_bytes} [{wide_bar}] {bytes_per_sec}, {eta} left",
        ),
        None => ProgressStyle::with_template("{spinner} {bytes} {bytes_per_sec}"),
    };
    if let Ok(style) = style {
        bar.set_style(style);
    }
    bar
}

fn context_of(pairs: &[(String, String)]) -> EncryptionContext {
    let mut c = EncryptionContext::new();
    for (k, v) in pairs {
        c.insert(k.clone(), v.clone());
    }
    c
}

fn name(path: &str) -> &str {
    if path == "-" {
        "stdin"
    } else {
        path
    }
}

/// An envelope failure as the CLI reports it: a key the service refused (its AWS code, exit
/// 1), a message refused (exit 1), an unreachable service or a failed read or write (exit 3),
/// an unusable argument (exit 2). `io` says what an I/O error was doing.
fn refused(e: EnvelopeError, io: &str) -> Failure {
    match e {
        EnvelopeError::Provider { key_id, source } => provider(&source, Some(&key_id)),
        EnvelopeError::NoDecryptableDataKey {
            last: Some(source), ..
        } => provider(&source, None),
        EnvelopeError::NoDecryptableDataKey { last: None, .. } => Failure::Service {
            code: "NoDecryptableDataKey".into(),
            message: "no encrypted data key of the message could be tried".into(),
        },
        EnvelopeError::ContextMismatch => Failure::Service {
            code: "ContextMismatch".into(),
            message: "the message's encryption context is not the one given with --context".into(),
        },
        EnvelopeError::Io(e) => Failure::io(io, &e),
        EnvelopeError::InvalidContext(e) => {
            Failure::Usage(format!("the encryption context is not acceptable: {e}"))
        }
        EnvelopeError::InvalidArgument(e) => Failure::Usage(e.to_string()),
        other => Failure::Service {
            code: "InvalidMessage".into(),
            message: other.to_string(),
        },
    }
}

/// A keyring failure: the service's refusal (exit 1), or no answer from it (exit 3, as every
/// other command reports an SDK error without a service code).
fn provider(e: &ProviderError, key_id: Option<&str>) -> Failure {
    let on = key_id.map(|k| format!(" (key {k})")).unwrap_or_default();
    let local = [
        codes::CONNECTION,
        codes::INVALID_RESPONSE,
        codes::INVALID_REQUEST,
        codes::BLOCKING_IN_ASYNC_CONTEXT,
    ];
    if local.contains(&e.code()) {
        return Failure::Io(format!("the request failed: {}{on}", e.message()));
    }
    Failure::Service {
        code: e.code().to_owned(),
        message: format!("{}{on}", e.message()),
    }
}

/// Where the output goes: stdout, or a temporary file beside the destination, renamed over it
/// by [`Sink::commit`] and removed if dropped before.
enum Sink {
    Stdout(BufWriter<io::StdoutLock<'static>>),
    File {
        file: BufWriter<File>,
        temp: PathBuf,
        dest: PathBuf,
        committed: bool,
    },
}

impl Sink {
    fn open(out: Option<&Path>) -> Result<Self, Failure> {
        let Some(dest) = out else {
            return Ok(Self::Stdout(BufWriter::with_capacity(
                CHUNK,
                io::stdout().lock(),
            )));
        };
        let dir = match dest.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        let base = dest
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .ok_or_else(|| Failure::Usage(format!("--out {} is not a file", dest.display())))?;
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        // A name nobody else uses: the process id and a counter until one is free.
        let mut attempt = 0u32;
        loop {
            let temp = dir.join(format!(
                ".{base}.coffer-{}-{attempt}.tmp",
                std::process::id()
            ));
            match opts.open(&temp) {
                Ok(f) => {
                    return Ok(Self::File {
                        file: BufWriter::with_capacity(CHUNK, f),
                        temp,
                        dest: dest.to_owned(),
                        committed: false,
                    })
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists && attempt < 100 => {
                    attempt += 1;
                }
                Err(e) => {
                    return Err(Failure::io(
                        &format!("creating a temporary file in {}", dir.display()),
                        &e,
                    ))
                }
            }
        }
    }

    fn name(&self) -> String {
        match self {
            Self::Stdout(_) => "stdout".into(),
            Self::File { dest, .. } => dest.display().to_string(),
        }
    }

    /// Flushes; a file is synced and renamed over its destination.
    fn commit(mut self) -> Result<(), Failure> {
        let name = self.name();
        let fail = |e: io::Error| Failure::io(&format!("writing {name}"), &e);
        match &mut self {
            Self::Stdout(w) => w.flush().map_err(fail),
            Self::File {
                file,
                temp,
                dest,
                committed,
            } => {
                file.flush().map_err(fail)?;
                file.get_ref().sync_all().map_err(fail)?;
                std::fs::rename(&*temp, &*dest).map_err(fail)?;
                *committed = true;
                Ok(())
            }
        }
    }
}

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Self::Stdout(w) => w.write(buf),
            Self::File { file, .. } => file.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Self::Stdout(w) => w.flush(),
            Self::File { file, .. } => file.flush(),
        }
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        if let Self::File {
            temp,
            committed: false,
            ..
        } = self
        {
            let _ = std::fs::remove_file(&*temp);
        }
    }
}
