#!/usr/bin/env ruby
# Interop echo SERVER peer built on Ruby's `websocket` gem (Debian
# ruby-websocket 1.2.9): hixie-75, hixie-76, hybi-07, hybi-08 and hybi-13.
# The gem does the handshakes and the framing; this file only drives the TCP
# loop (one thread per connection).
#
#   ruby ruby_server.rb PORT [SECONDS]
#
# Listens on 127.0.0.1:PORT, echoes text as text and binary as binary (up to
# 32 MiB), answers pings with pongs, answers a close with a close (hybi: the
# same code; hixie-76: 0xFF 0x00) and then closes TCP; hixie-75 connections
# end when the client closes TCP. Prints "listening on ws://127.0.0.1:PORT"
# when ready; stops after SECONDS (default 300) or on SIGTERM/SIGINT.
require 'socket'
require 'websocket'
require 'websocket/version'

WebSocket.max_frame_size = 2**25
$stdout.sync = true

# Workaround for a gem bug: Handshake#leftovers strips whitespace and NUL
# bytes, which corrupts a hixie-76 key3 that begins or ends with such a byte
# (so the MD5 answer would be wrong about 5% of the time). We hand the
# handshake exactly the request head plus the 8 key bytes, so the raw
# leftovers are exactly key3.
module RawLeftovers
  def leftovers
    @leftovers.to_s
  end
end
WebSocket::Handshake::Server.prepend(RawLeftovers)

port = Integer(ARGV[0] || abort('usage: ruby_server.rb PORT [SECONDS]'))
seconds = Float(ARGV[1] || 300)

# Read from sock until buf holds `want` bytes or the head terminator; nil on EOF.
def fill(sock, buf, &done)
  until done.call(buf)
    chunk = sock.readpartial(65_536)
    buf << chunk
    return nil if buf.bytesize > 65_536 && !buf.include?("\r\n\r\n")
  end
  buf
rescue EOFError, IOError, SystemCallError
  nil
end

def serve(sock)
  buf = String.new(encoding: Encoding::BINARY)
  return unless fill(sock, buf) { |b| b.include?("\r\n\r\n") }
  head_end = buf.index("\r\n\r\n") + 4
  head = buf[0, head_end]
  rest = buf[head_end..]
  if head =~ /^sec-websocket-key1:/i # hixie-76: 8 key bytes follow the head
    return unless fill(sock, rest) { |b| b.bytesize >= 8 }
    head += rest[0, 8]
    rest = rest[8..]
  end
  hs = WebSocket::Handshake::Server.new
  hs << head
  unless hs.finished? && hs.valid?
    sock.write("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
    warn "ruby_server: refused handshake (#{hs.error.inspect})"
    return
  end
  sock.write(hs.to_s)
  version = hs.version
  hixie = version == 75 || version == 76
  out = lambda do |type, data, code = nil|
    sock.write(WebSocket::Frame::Outgoing::Server.new(version: version, type: type, data: data, code: code).to_s)
  end
  frames = WebSocket::Frame::Incoming::Server.new(version: version)
  frames << rest
  loop do
    while (f = frames.next)
      case f.type
      when :text, :binary then out.call(f.type, f.data)
      when :ping then out.call(:pong, f.data)
      when :close
        if hixie
          sock.write("\xff\x00".b) if version == 76
        else
          out.call(:close, f.data, f.code) # the gem sends 1000 when the close carried no code
        end
        return
      end
    end
    if frames.error?
      warn "ruby_server: protocol error #{frames.error.inspect} (version #{version})"
      out.call(:close, '', 1002) unless hixie
      return
    end
    frames << sock.readpartial(65_536)
  end
rescue EOFError, IOError, SystemCallError
  nil # peer went away (the normal end of a hixie-75 connection)
ensure
  sock.close unless sock.closed?
end

server = TCPServer.new('127.0.0.1', port)
%w[TERM INT].each { |s| Signal.trap(s) { exit 0 } }
deadline = Process.clock_gettime(Process::CLOCK_MONOTONIC) + seconds
puts "listening on ws://127.0.0.1:#{port} (ruby websocket gem #{WebSocket::VERSION})"
$stdout.flush
loop do
  left = deadline - Process.clock_gettime(Process::CLOCK_MONOTONIC)
  break if left <= 0
  next unless IO.select([server], nil, nil, [left, 1].min)
  sock = server.accept
  Thread.new(sock) { |s| serve(s) }
end
