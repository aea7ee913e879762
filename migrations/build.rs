//! `sqlx::migrate!` embeds the SQL files at compile time; without this a new
//! migration file would not rebuild the crate, and a stale binary would miss it.

fn main() {
    println!("cargo:rerun-if-changed=write");
    println!("cargo:rerun-if-changed=read");
}
