//! Envelope encryption of a file of any size, in constant memory: the data is encrypted locally
//! under a data key that coffer generates and wraps under a CMK; the wrapped key travels in the
//! message header. Then decryption, streamed, checked against the original by SHA-256; then the
//! data-key cache saving calls to the KMS.
//!
//! Run: `cargo run --release -p coffer-examples --example envelope_file -- [BYTES]`
//! (default 8 MiB; the input is a generated file in a temporary directory).
#![allow(clippy::print_stdout)] // an example talks to its reader

use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::sync::Arc;
use std::time::Duration;

use coffer::envelope::{
    decrypt, encrypt, CacheLimits, CachingProvider, DecryptOptions, DecryptingReader,
    EncryptOptions, EncryptingWriter,
};
use coffer::model::CreateKeyRequest;
use coffer::{Caller, EncryptionContext, Kms, SystemClock};
use coffer_crypto::Sha256;

/// An identity policy allowing every KMS action (the principal still needs the key policy).
const KMS_ADMIN: &str =
    r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:*","Resource":"*"}]}"#;

/// Writes `len` bytes of a repeatable pattern.
fn make_input(path: &std::path::Path, len: u64) -> io::Result<[u8; 32]> {
    let mut out = BufWriter::new(File::create(path)?);
    let mut hash = Sha256::new();
    let mut block = [0u8; 65536];
    let mut written = 0u64;
    let mut n = 0u32;
    while written < len {
        for b in block.iter_mut() {
            n = n.wrapping_mul(1_103_515_245).wrapping_add(12345);
            *b = (n >> 16) as u8;
        }
        let take = usize::try_from((len - written).min(block.len() as u64)).unwrap_or(0);
        out.write_all(&block[..take])?;
        hash.update(&block[..take]);
        written += take as u64;
    }
    out.flush()?;
    Ok(hash.finish())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let len: u64 = std::env::args()
        .nth(1)
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(8 << 20);
    let dir = std::env::temp_dir().join(format!("coffer-envelope-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let plain_path = dir.join("data.bin");
    let sealed_path = dir.join("data.bin.coffer");

    let kms = Kms::builder().build()?;
    let app = Caller::new("arn:aws:iam::111122223333:role/backup")?
        .with_identity_policy_json(KMS_ADMIN)?;
    let key = kms
        .create_key(&app, CreateKeyRequest::default())?
        .key_metadata
        .arn;
    let provider = kms.data_keys(app.clone());
    let ctx: EncryptionContext = [("file", "data.bin"), ("purpose", "backup")]
        .into_iter()
        .collect();

    let original = make_input(&plain_path, len)?;

    // Encrypt: file → EncryptingWriter → file. Memory: one frame buffer (64 KiB) and I/O buffers.
    let mut input = BufReader::new(File::open(&plain_path)?);
    let output = BufWriter::new(File::create(&sealed_path)?);
    let mut writer = EncryptingWriter::new(
        &provider,
        &[key.as_str()],
        &ctx,
        &EncryptOptions::new(),
        output,
    )?;
    io::copy(&mut input, &mut writer)?;
    writer.finish()?.flush()?;
    let sealed_len = std::fs::metadata(&sealed_path)?.len();
    println!("encrypted {len} bytes into {sealed_len} bytes under {key}");

    // Decrypt: file → DecryptingReader → hash. Only authenticated frames are released.
    let mut reader = DecryptingReader::new(
        &provider,
        BufReader::new(File::open(&sealed_path)?),
        &DecryptOptions::new().expect_context(ctx.clone()),
    )?;
    let mut hash = Sha256::new();
    let mut buf = vec![0u8; 65536];
    loop {
        let n = reader.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hash.update(&buf[..n]);
    }
    let same = hash.finish() == original;
    println!(
        "decrypted and compared by SHA-256: {}",
        if same { "identical" } else { "DIFFERENT" }
    );
    std::fs::remove_dir_all(&dir)?;
    if !same {
        return Err("round trip changed the data".into());
    }

    // The cache: 1,000 small messages, each data key reused for up to 100 messages.
    let cached = CachingProvider::new(
        kms.data_keys(app),
        CacheLimits::new(16, Duration::from_secs(300)).with_max_messages(100),
        Arc::new(SystemClock),
    );
    for i in 0..1000u32 {
        let msg = encrypt(
            &cached,
            &[key.as_str()],
            &ctx,
            format!("record {i}").as_bytes(),
            &EncryptOptions::new().with_plaintext_len(16),
        )?;
        decrypt(&cached, &msg, &DecryptOptions::new())?;
    }
    let s = cached.stats();
    println!(
        "1000 messages: {} GenerateDataKey calls (saved {}), {} Decrypt calls (saved {})",
        s.encrypt_misses, s.encrypt_hits, s.decrypt_misses, s.decrypt_hits
    );
    Ok(())
}
