//! A counting global allocator with per-thread totals, so that tests in one binary may run in
//! parallel. A test binary that includes this module (`#[path = "common/counting.rs"] mod
//! counting;`) installs it with `#[global_allocator] static A: counting::Counting =
//! counting::Counting;`.

#![allow(dead_code)] // each binary uses a part

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

pub struct Counting;

thread_local! {
    // Const-initialised without a destructor, so using it never allocates.
    static LIVE: Cell<usize> = const { Cell::new(0) };
    static PEAK: Cell<usize> = const { Cell::new(0) };
    static CALLS: Cell<usize> = const { Cell::new(0) };
}

fn add(n: usize) {
    let _ = CALLS.try_with(|calls| calls.set(calls.get() + 1));
    let _ = LIVE.try_with(|live| {
        let now = live.get() + n;
        live.set(now);
        let _ = PEAK.try_with(|peak| peak.set(peak.get().max(now)));
    });
}

fn sub(n: usize) {
    let _ = LIVE.try_with(|live| live.set(live.get().saturating_sub(n)));
}

// SAFETY: every call is forwarded to `System` unchanged; the counters only observe sizes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        add(layout.size());
        // SAFETY: same layout, forwarded.
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        add(layout.size());
        // SAFETY: same layout, forwarded.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        sub(layout.size());
        // SAFETY: `ptr` came from `System` with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        sub(layout.size());
        add(new_size);
        // SAFETY: `ptr` came from `System` with this layout.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

pub fn live() -> usize {
    LIVE.with(Cell::get)
}

pub fn reset_peak() {
    PEAK.with(|p| p.set(live()));
}

pub fn peak() -> usize {
    PEAK.with(Cell::get)
}

/// Allocations (and reallocations) made by this thread so far.
pub fn allocations() -> usize {
    CALLS.with(Cell::get)
}
