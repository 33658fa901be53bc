#!/usr/bin/perl
# Interop CLIENT peer built on Perl's Protocol::WebSocket (Debian
# libprotocol-websocket-perl 0.26): hixie-75, hixie-76, hybi-08 and hybi-13.
# (It calls them draft-hixie-75, draft-ietf-hybi-00, draft-ietf-hybi-10 (sends
# version 8) and draft-ietf-hybi-17 (version 13); it has no version 7.)
# The module builds the handshake, checks the hixie-76 MD5 answer, and does
# the framing; this file drives the socket.
#
#   perl perl_client.pl URL VERSION
#   VERSION: hixie-75|75, hixie-76|76, hybi-08|8, hybi-13|13
#
# Sends text messages of 0, 1, 125, 126, 127, 65535, 65536 and 1048576 bytes
# (multi-byte UTF-8 throughout); on hybi also binary messages of the same
# sizes, a text message in three frames (split inside a UTF-8 character) and
# a ping whose pong must carry the same payload. Each echo is checked byte for
# byte and for its type. The module does not check Sec-WebSocket-Accept, so
# this file does. Closes with code 1000 on hybi (answer: a close frame with
# code 1000, then TCP EOF), with 0xFF 0x00 on hixie-76 (answer 0xFF 0x00,
# then EOF), by closing TCP on hixie-75. Exit 0 on success, 1 on a mismatch,
# 2 on bad arguments, 3 after 30 s.
use strict;
use warnings;
use utf8;
use Encode qw(encode);
use IO::Socket::INET;
use IO::Select;
use Digest::SHA qw(sha1);
use MIME::Base64 qw(encode_base64);
use Protocol::WebSocket::Handshake::Client;
use Protocol::WebSocket::Frame;

my %VERSIONS = (
    'hixie-75' => 'draft-hixie-75',     75 => 'draft-hixie-75',
    'hixie-76' => 'draft-ietf-hybi-00', 76 => 'draft-ietf-hybi-00', 'hybi-00' => 'draft-ietf-hybi-00',
    'hybi-08'  => 'draft-ietf-hybi-10', 8  => 'draft-ietf-hybi-10',
    'hybi-13'  => 'draft-ietf-hybi-17', 13 => 'draft-ietf-hybi-17', rfc6455 => 'draft-ietf-hybi-17',
);
my @SIZES = (0, 1, 125, 126, 127, 65535, 65536, 1 << 20);
my $UNIT  = 'héllo ☃ 𝄞 ';    # 16 bytes of UTF-8: 1-, 2-, 3- and 4-byte characters
my $MAX   = 2**25;

$| = 1;
sub fail { my ($msg, $code) = @_; print STDERR "perl_client: FAIL: $msg\n"; exit($code // 1); }

my ($url, $varg) = @ARGV;
fail('usage: perl_client.pl URL VERSION', 2) unless defined $varg;
my $version = $VERSIONS{$varg} or fail("Protocol::WebSocket has no version '$varg'", 2);
my $hixie = $version eq 'draft-hixie-75' || $version eq 'draft-ietf-hybi-00';
$SIG{ALRM} = sub { fail('timed out after 30 s', 3) };
alarm 30;

# Text of exactly n UTF-8 bytes (returned encoded): UNIT's characters in turn, padded with '.'.
sub text_of {
    my ($n) = @_;
    my ($out, $i) = ('', 0);
    while (1) {
        my $c = encode('UTF-8', substr($UNIT, $i++ % length($UNIT), 1));
        last if length($out) + length($c) > $n;
        $out .= $c;
    }
    return $out . ('.' x ($n - length $out));
}
sub bin_of { my ($n) = @_; return pack('C*', map { ($_ * 31 + 7) & 0xff } 0 .. $n - 1); }

my ($host, $port) = $url =~ m{^ws://([^/:]+):(\d+)} or fail("cannot parse URL '$url'", 2);
my $sock = IO::Socket::INET->new(PeerAddr => $host, PeerPort => $port, Proto => 'tcp')
  or fail("cannot connect to $host:$port: $!");
binmode $sock;
my $sel = IO::Select->new($sock);
my $buf = '';

# Read more bytes into $buf, waiting at most $secs; false at EOF or timeout.
sub more {
    my ($secs) = @_;
    return 0 unless $sel->can_read($secs // 30);
    my $n = sysread($sock, my $chunk, 65536);
    return 0 unless $n;
    $buf .= $chunk;
    return 1;
}
sub put { my ($bytes) = @_; print {$sock} $bytes or fail("write failed: $!"); }

# --- opening handshake ---------------------------------------------------------
my $hs = Protocol::WebSocket::Handshake::Client->new(url => $url, version => $version);
my $key = encode_base64(join('', map { chr int rand 256 } 1 .. 16), '');
$hs->req->key($key) unless $hixie;
put($hs->to_string);
until ($hs->is_done) {
    more() or fail('connection closed during the handshake');
    $hs->parse($buf) or fail('handshake rejected by Protocol::WebSocket: ' . ($hs->error // '?'));
}
# $buf now holds whatever followed the handshake
unless ($hixie) {
    my $want = encode_base64(sha1($key . '258EAFA5-E914-47DA-95CA-C5AB0DC85B11'), '');
    my $got  = $hs->res->field('Sec-WebSocket-Accept') // '(none)';
    fail("Sec-WebSocket-Accept is '$got', expected '$want'") unless $got eq $want;
}

# --- messages ------------------------------------------------------------------
my $in = Protocol::WebSocket::Frame->new(version => $version, max_payload_size => $MAX,
                                         max_fragments_amount => 1000);
sub frame_out {
    return Protocol::WebSocket::Frame->new(version => $version, masked => 1,
                                           max_payload_size => $MAX, @_)->to_bytes;
}
# Next complete message or control frame: (opcode, payload bytes); () at EOF.
sub next_frame {
    while (1) {
        $in->append($buf) if length $buf;
        $buf = '';
        my $bytes = eval { $in->next_bytes };
        fail("frame error from Protocol::WebSocket: $@") if $@;
        return ($in->opcode, $bytes) if defined $bytes;
        more() or return ();
    }
}
sub round_trip {
    my ($label, $type, $payload) = @_;
    put(frame_out(buffer => $payload, type => $type));
    my ($op, $got) = next_frame() or fail("$label: connection closed instead of the echo");
    my $want_op = $type eq 'text' ? 1 : 2;
    fail("$label: echo came back with opcode $op") unless $hixie || $op == $want_op;
    fail(sprintf('%s: echo differs (sent %d bytes, got %d)', $label, length $payload, length $got))
      unless $got eq $payload;
}

round_trip("text $_", 'text', text_of($_)) for @SIZES;
round_trip('text "héllo ☃ 𝄞"', 'text', encode('UTF-8', 'héllo ☃ 𝄞'));
my $checks = (@SIZES + 1) . ' text echoes';
unless ($hixie) {
    round_trip("binary $_", 'binary', bin_of($_)) for @SIZES;

    # One text message in three frames; the first cut falls inside '☃'.
    my $whole = encode('UTF-8', 'fragmented: héllo ☃ 𝄞');
    my $cut   = index($whole, encode('UTF-8', '☃')) + 1;
    put(frame_out(buffer => substr($whole, 0, $cut), type => 'text', fin => 0));
    put(frame_out(buffer => substr($whole, $cut, 3), type => 'continuation', fin => 0));
    put(frame_out(buffer => substr($whole, $cut + 3), type => 'continuation', fin => 1));
    my ($op, $got) = next_frame() or fail('fragmented text: connection closed instead of the echo');
    fail('fragmented text: echo differs') unless $op == 1 && $got eq $whole;

    my $ping = encode('UTF-8', 'ping ☃ 42');
    put(frame_out(buffer => $ping, type => 'ping'));
    ($op, $got) = next_frame() or fail('connection closed instead of the pong');
    fail("expected a pong, got opcode $op") unless $op == 10;
    fail('pong payload differs from the ping\'s') unless $got eq $ping;
    $checks = (2 * @SIZES + 1) . ' echoes, fragmented, ping/pong';
}

# --- closing -------------------------------------------------------------------
if ($version eq 'draft-hixie-75') {
    close $sock;    # hixie-75 has no closing handshake
    $checks .= ', TCP close';
}
else {
    if ($hixie) {
        put(frame_out(type => 'close'));    # 0xFF 0x00
    }
    else {
        put(frame_out(type => 'close', buffer => pack('n', 1000) . 'bye'));
    }
    my ($op, $got) = next_frame() or fail('server closed TCP without answering the close');
    fail("expected a close, got opcode $op") unless $op == 8;
    unless ($hixie) {
        fail('server\'s close frame carried no code') if length($got) < 2;
        my $code = unpack('n', $got);
        fail("server's close frame carried code $code, expected 1000") unless $code == 1000;
    }
    fail('server did not close TCP within 5 s after the closing handshake (or sent more)') if more(5) || length $buf;
    $checks .= $hixie ? ', 0xFF 0x00 closing handshake' : ', close 1000';
}
print "perl_client: OK ($varg: $checks)\n";
exit 0;
