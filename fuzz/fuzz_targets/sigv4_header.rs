#![no_main]
//! The SigV4 `Authorization` header parser: never panics; what it accepts prints back to a
//! header that parses to the same value. The canonicalization of arbitrary paths, queries and
//! signed-header lists never panics either.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(h) = cofferd::parse_authorization(text) {
        let printed = h.to_string();
        let again = cofferd::parse_authorization(&printed).expect("printed header parses");
        assert_eq!(again, h);
        assert_eq!(again.to_string(), printed);

        let mut headers = http::HeaderMap::new();
        headers.insert("host", http::HeaderValue::from_static("127.0.0.1"));
        headers.append(
            "x-amz-date",
            http::HeaderValue::from_static(" 20150830T123600Z "),
        );
        let (path, query) = text.split_once('?').unwrap_or((text, ""));
        let req = cofferd::RequestParts {
            method: "POST",
            path,
            query,
            headers: &headers,
        };
        let creq =
            cofferd::canonical_request(&req, &h.signed_headers, &cofferd::payload_hash(data));
        assert!(creq.ends_with(cofferd::payload_hash(data).as_bytes()));
    }
});
