//! The reference for the end-to-end benchmark: the same echo server as `echo_server`, one
//! thread per connection over `std::net`, built on tungstenite's blocking API.
//!
//! `cargo run --release --example tungstenite_echo_server -- [ADDR]` (default
//! `127.0.0.1:9002`). Prints `listening on ws://ADDR` once it accepts connections.

use std::net::{TcpListener, TcpStream};

use tungstenite::Message;

fn main() {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:9002".into());
    let listener = match TcpListener::bind(&addr) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("tungstenite_echo_server: cannot listen on {addr}: {e}");
            std::process::exit(1);
        }
    };
    println!(
        "listening on ws://{}",
        listener.local_addr().map(|a| a.to_string()).unwrap_or(addr)
    );
    for stream in listener.incoming() {
        match stream {
            Ok(stream) => {
                std::thread::spawn(move || serve(stream));
            }
            Err(e) => eprintln!("tungstenite_echo_server: accept failed: {e}"),
        }
    }
}

fn serve(stream: TcpStream) {
    let _ = stream.set_nodelay(true);
    let mut ws = match tungstenite::accept(stream) {
        Ok(ws) => ws,
        Err(e) => {
            eprintln!("handshake failed: {e}");
            return;
        }
    };
    loop {
        let result = match ws.read() {
            Ok(message @ (Message::Text(_) | Message::Binary(_))) => ws.send(message),
            Ok(_) => Ok(()),
            Err(_) => return,
        };
        if result.is_err() {
            return;
        }
    }
}
