//! Event payload decoding and upcasting: see `targets::event_decode`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| cotalk_fuzz::targets::event_decode(data));
