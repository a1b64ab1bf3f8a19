#!/usr/bin/env bash
# Generates the test certificates of the security suite into DIR (default: a new temporary
# directory, printed): a CA, a server certificate for 127.0.0.1/localhost, a client "alice"
# signed by the CA, and a rogue CA with a client "mallory" the server must refuse. Keys are
# made at test time and never checked in.
#
#   compat-tests/security/gen.sh [DIR]
#
# Files (PEM unless named otherwise):
#   ca.pem ca.key                  the test CA ("CN=raftzk-test-ca")
#   server.pem                     PKCS#8 key + certificate: ZooKeeper's PEM keystore form
#   server.key server.crt          the same key and certificate apart
#   server2.pem                    a renewed server certificate (CN=localhost-renewed)
#   server-enc.key                 the key encrypted with "secret" (PBE-SHA1-3DES, as ZooKeeper reads)
#   server-enc.pem                 that key + the certificate
#   server-pbes2.pem               the key encrypted with "secret" (PBES2/AES-256, OpenSSL 3's default) + the certificate
#   server.p12 trust.p12           PKCS12 keystore and truststore, password "secret"
#   client.key client.crt          alice: C=US, O=raftzk, OU=test, CN=alice
#   client.pem                     alice's key + certificate (a Java client's PEM keystore)
#   rogue-client.key rogue-client.crt   mallory, signed by a CA the server does not trust
#   rogue-member.pem               a member certificate for 127.0.0.1 signed by the rogue CA
#   wronghost.pem                  a member certificate signed by the CA for elsewhere.invalid only
set -euo pipefail
dir="${1:-$(mktemp -d -t raftzk-certs-XXXXXX)}"
mkdir -p "$dir"
cd "$dir"
q() { "$@" >/dev/null 2>&1 || { echo "gen.sh: failed: $*" >&2; "$@"; exit 1; }; }

ca() { # name subject
  q openssl req -x509 -newkey rsa:2048 -nodes -keyout "$1.key" -out "$1.pem" -days 3650 -subj "$2" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign"
}
leaf() { # name subject ca extfile-text
  q openssl req -newkey rsa:2048 -nodes -keyout "$1.key" -out "$1.csr" -subj "$2"
  printf '%b' "$4" > "$1.ext"
  q openssl x509 -req -in "$1.csr" -CA "$3.pem" -CAkey "$3.key" -CAcreateserial -days 3650 \
    -extfile "$1.ext" -out "$1.crt"
  rm -f "$1.csr" "$1.ext"
}

ca ca "/CN=raftzk-test-ca"
leaf server "/C=US/O=raftzk/CN=localhost" ca \
  "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\n"
cat server.key server.crt > server.pem
# a renewed server certificate (another subject), for rotation without a restart
leaf server2 "/C=US/O=raftzk/CN=localhost-renewed" ca \
  "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\n"
cat server2.key server2.crt > server2.pem
leaf client "/C=US/O=raftzk/OU=test/CN=alice" ca "extendedKeyUsage=clientAuth\n"
cat client.key client.crt > client.pem
ca rogue-ca "/CN=rogue-ca"
leaf rogue-client "/C=US/O=raftzk/OU=test/CN=mallory" rogue-ca "extendedKeyUsage=clientAuth\n"
# members of a TLS quorum (sslQuorum): one the quorum's CA did not sign, one for another host
leaf rogue-member "/C=US/O=raftzk/CN=localhost" rogue-ca \
  "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\n"
cat rogue-member.key rogue-member.crt > rogue-member.pem
leaf wronghost "/C=US/O=raftzk/CN=elsewhere" ca \
  "subjectAltName=DNS:elsewhere.invalid\nextendedKeyUsage=serverAuth,clientAuth\n"
cat wronghost.key wronghost.crt > wronghost.pem

q openssl pkcs8 -topk8 -v1 PBE-SHA1-3DES -in server.key -passout pass:secret -out server-enc.key
cat server-enc.key server.crt > server-enc.pem
q openssl pkcs8 -topk8 -v2 aes256 -v2prf hmacWithSHA256 -in server.key -passout pass:secret -out server-pbes2.key
cat server-pbes2.key server.crt > server-pbes2.pem
q openssl pkcs12 -export -in server.crt -inkey server.key -certfile ca.pem -name server \
  -out server.p12 -passout pass:secret
rm -f trust.p12
if command -v keytool >/dev/null 2>&1; then
  q keytool -importcert -noprompt -storetype PKCS12 -keystore trust.p12 -storepass secret \
    -alias ca -file ca.pem
fi
echo "$dir"
