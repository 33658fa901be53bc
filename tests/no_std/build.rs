//! A `#![no_std]` binary for a hosted target gets no C library by default: libc provides the
//! start-up code that calls `main`, `memcpy` and friends, `write` and `exit`.

fn main() {
    println!("cargo:rustc-link-arg-bins=-lc");
}
