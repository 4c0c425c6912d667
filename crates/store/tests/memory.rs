//! The in-memory store passes the conformance kit.
coffer_store::store_conformance_tests!(coffer_store::MemoryStore::new);
