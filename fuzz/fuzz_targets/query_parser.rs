//! The search query parser and cursor decoding: see `targets::query_parser`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| cotalk_fuzz::targets::query_parser(data));
