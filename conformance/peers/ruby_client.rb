#!/usr/bin/env ruby
# Interop CLIENT peer built on Ruby's `websocket` gem (Debian ruby-websocket
# 1.2.9): hixie-75, hixie-76, hybi-07, hybi-08 and hybi-13. The gem builds
# and checks the handshake (hixie-76 MD5 answer, hybi Sec-WebSocket-Accept)
# and does the framing; this file drives the TCP socket.
#
#   ruby ruby_client.rb URL VERSION
#   VERSION: hixie-75|75, hixie-76|76, hybi-07|7, hybi-08|8, hybi-13|13
#
# Sends text messages of 0, 1, 125, 126, 127, 65535, 65536 and 1048576 bytes
# (multi-byte UTF-8 throughout), and on hybi binary messages of the same sizes
# and a ping (the pong must carry the same payload), one at a time, checking
# each echo byte for byte and for its type. The gem cannot send fragmented
# messages, so there is no fragmentation check here. Closes with code 1000 on
# hybi (the answer must be a close frame with code 1000, then TCP EOF), with
# 0xFF 0x00 on hixie-76 (answer 0xFF 0x00, then EOF), by closing TCP on
# hixie-75. Exit 0 on success, 1 on a mismatch, 2 on bad arguments, 3 after 30 s.
require 'socket'
require 'uri'
require 'websocket'

WebSocket.max_frame_size = 2**25
$stdout.sync = true
VERSIONS = { 'hixie-75' => 75, '75' => 75, 'hixie-76' => 76, '76' => 76, 'hybi-00' => 76,
             'hybi-07' => 7, '7' => 7, 'hybi-08' => 8, '8' => 8, 'hybi-13' => 13, '13' => 13,
             'rfc6455' => 13 }.freeze
SIZES = [0, 1, 125, 126, 127, 65_535, 65_536, 1 << 20].freeze
UNIT = 'héllo ☃ 𝄞 ' # 16 bytes of UTF-8: 1-, 2-, 3- and 4-byte characters

def fail!(msg, code = 1)
  warn "ruby_client: FAIL: #{msg}"
  exit! code
end

# Text of exactly n UTF-8 bytes: UNIT's characters in turn, padded with '.'.
def text_of(n)
  out = +''
  chars = UNIT.chars
  i = 0
  loop do
    c = chars[i % chars.size]
    break if out.bytesize + c.bytesize > n
    out << c
    i += 1
  end
  out << ('.' * (n - out.bytesize))
end

def bin_of(n)
  Array.new(n) { |i| (i * 31 + 7) & 0xff }.pack('C*')
end

url, varg = ARGV
fail!('usage: ruby_client.rb URL VERSION', 2) unless url && varg
version = VERSIONS[varg] || fail!("unknown version '#{varg}'", 2)
hixie = [75, 76].include?(version)
Thread.new { sleep 30; fail!('timed out after 30 s', 3) }

uri = URI.parse(url)
sock = TCPSocket.new(uri.host, uri.port || 80)
@sock = sock
@buf = String.new(encoding: Encoding::BINARY)

# Read more bytes into @buf; false at EOF.
def more
  @buf << @sock.readpartial(65_536)
  true
rescue EOFError, Errno::ECONNRESET
  false
end

# After the closing handshake: true if the server closed TCP within 5 s with
# nothing more sent.
def eof_soon
  return false unless IO.select([@sock], nil, nil, 5)
  !more
end

# --- opening handshake -------------------------------------------------------
hs = WebSocket::Handshake::Client.new(url: url, version: version)
sock.write(hs.to_s)
until @buf.include?("\r\n\r\n")
  more || fail!("connection closed during the handshake; got #{@buf[0, 300].inspect}")
end
head_end = @buf.index("\r\n\r\n") + 4
answer = @buf.slice!(0, head_end)
if version == 76 # the 16-byte MD5 answer follows the head
  (more || fail!('connection closed before the 16-byte hixie-76 answer')) while @buf.bytesize < 16
  answer << @buf.slice!(0, 16)
end
hs << answer
unless hs.finished? && hs.valid?
  fail!("handshake rejected by the gem (#{hs.error.inspect}); server answered:\n#{answer.lines.first(12).join}")
end

# --- messages ------------------------------------------------------------------
frames = WebSocket::Frame::Incoming::Client.new(version: version)
send_frame = lambda do |type, data, code = nil|
  sock.write(WebSocket::Frame::Outgoing::Client.new(version: version, type: type, data: data, code: code).to_s)
end
next_frame = lambda do
  loop do
    frames << @buf.slice!(0, @buf.bytesize) unless @buf.empty?
    f = frames.next
    fail!("frame error from the gem: #{frames.error.inspect}") if frames.error?
    return f if f
    return nil unless more
  end
end
round_trip = lambda do |label, type, payload|
  send_frame.call(type, payload)
  f = next_frame.call || fail!("#{label}: connection closed instead of the echo")
  fail!("#{label}: echo came back as #{f.type}") unless f.type == type
  got = f.data.to_s.b
  fail!("#{label}: echo differs (sent #{payload.bytesize} bytes, got #{got.bytesize})") unless got == payload.b
end

SIZES.each { |n| round_trip.call("text #{n}", :text, text_of(n)) }
round_trip.call('text "héllo ☃ 𝄞"', :text, 'héllo ☃ 𝄞')
checks = "#{SIZES.size + 1} text echoes"
unless hixie
  SIZES.each { |n| round_trip.call("binary #{n}", :binary, bin_of(n)) }
  send_frame.call(:ping, 'ping ☃ 42')
  f = next_frame.call || fail!('connection closed instead of the pong')
  fail!("expected a pong, got #{f.type}") unless f.type == :pong
  fail!("pong payload #{f.data.inspect} differs from the ping's") unless f.data.to_s.b == 'ping ☃ 42'.b
  checks = "#{2 * SIZES.size + 1} echoes, ping/pong"
end

# --- closing -------------------------------------------------------------------
case version
when 75
  sock.close # hixie-75 has no closing handshake
  checks += ', TCP close'
when 76
  send_frame.call(:close, '')
  f = next_frame.call || fail!('server closed TCP without answering 0xFF 0x00')
  fail!("expected the 0xFF 0x00 close, got #{f.type}") unless f.type == :close
  eof_soon || fail!("server did not close TCP after 0xFF 0x00 (or sent more: #{@buf.inspect})")
  checks += ', 0xFF 0x00 closing handshake'
else
  send_frame.call(:close, 'bye', 1000)
  f = next_frame.call || fail!('server closed TCP without a close frame')
  fail!("expected a close frame, got #{f.type}") unless f.type == :close
  fail!("server's close frame carried code #{f.code.inspect}, expected 1000") unless f.code == 1000
  eof_soon || fail!("server did not close TCP after its close frame (or sent more: #{@buf.inspect})")
  checks += ', close 1000'
end
puts "ruby_client: OK (#{varg}: #{checks})"
exit! 0
