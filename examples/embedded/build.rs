//! On this Linux host a `#![no_std]` binary gets no C library by default: libc provides the
//! start-up code that calls `main`, `memcpy` and friends, `write` and `exit`. On a
//! microcontroller the board's runtime crate plays that part instead.

fn main() {
    println!("cargo:rustc-link-arg-bins=-lc");
}
