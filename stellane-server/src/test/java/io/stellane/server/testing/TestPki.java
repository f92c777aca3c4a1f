package io.stellane.server.testing;

import javax.net.ssl.KeyManager;
import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.SSLEngine;
import javax.net.ssl.X509ExtendedKeyManager;
import javax.net.ssl.SSLContext;
import javax.net.ssl.TrustManagerFactory;
import javax.security.auth.x500.X500Principal;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.math.BigInteger;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.KeyStore;
import java.security.Principal;
import java.security.PrivateKey;
import java.security.SecureRandom;
import java.security.Signature;
import java.security.cert.Certificate;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.security.spec.ECGenParameterSpec;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;

/**
 * Certificates made at test time with the JDK alone (no private key is ever committed): a CA, server
 * certificates for {@code localhost} and {@code 127.0.0.1} issued by it, client certificates, expired
 * ones; written as PEM files, and SSL contexts for clients that trust a CA. The DER of an X.509 v3
 * certificate is written here by hand (the JDK has no public builder); signatures are the JDK's.
 */
public final class TestPki {
    private static final SecureRandom RANDOM = new SecureRandom();

    /** A certificate and its private key. */
    public record Issued(X509Certificate cert, PrivateKey key) {
        public BigInteger serial() {
            return cert.getSerialNumber();
        }

        /** Writes the certificate (then {@code chain}, e.g. an intermediate) as PEM to {@code file}. */
        public Path writeCert(Path file, X509Certificate... chain) {
            StringBuilder pem = new StringBuilder(pem("CERTIFICATE", encoded(cert)));
            for (X509Certificate c : chain) {
                pem.append(pem("CERTIFICATE", encoded(c)));
            }
            return write(file, pem.toString());
        }

        /** Writes the private key as unencrypted PKCS#8 PEM ({@code BEGIN PRIVATE KEY}) to {@code file}. */
        public Path writeKey(Path file) {
            return write(file, pem("PRIVATE KEY", key.getEncoded()));
        }

        /** Writes an RSA key as PKCS#1 PEM ({@code BEGIN RSA PRIVATE KEY}), as {@code openssl genrsa} used to. */
        public Path writeRsaPkcs1Key(Path file) {
            // PKCS#8: SEQUENCE { INTEGER 0, AlgorithmIdentifier, OCTET STRING { RSAPrivateKey } }
            Der outer = new Der(key.getEncoded());
            Der info = outer.enter(0x30);
            info.skip(0x02);
            info.skip(0x30);
            return write(file, pem("RSA PRIVATE KEY", info.content(0x04)));
        }
    }

    private TestPki() {
    }

    /** A self-signed CA (EC P-256) valid from an hour ago for a year. */
    public static Issued ca(String commonName) {
        KeyPair kp = ecKeys();
        Instant now = Instant.now();
        X500Principal name = new X500Principal("CN=" + commonName + ", O=Stellane tests");
        X509Certificate cert = sign(kp, name, kp, name, serial(), now.minus(Duration.ofHours(1)),
                now.plus(Duration.ofDays(365)), true);
        return new Issued(cert, kp.getPrivate());
    }

    /** A server certificate for {@code localhost} and {@code 127.0.0.1} (EC P-256), issued by {@code ca}, valid for a day. */
    public static Issued server(Issued ca) {
        Instant now = Instant.now();
        return server(ca, serial(), now.minus(Duration.ofHours(1)), now.plus(Duration.ofDays(1)), ecKeys());
    }

    /** A server certificate for {@code localhost} and {@code 127.0.0.1} with the given serial, validity and keys. */
    public static Issued server(Issued ca, BigInteger serial, Instant notBefore, Instant notAfter, KeyPair keys) {
        X509Certificate cert = sign(keys, new X500Principal("CN=localhost, O=Stellane tests"),
                new KeyPair(ca.cert.getPublicKey(), ca.key), ca.cert.getSubjectX500Principal(), serial, notBefore,
                notAfter, false);
        return new Issued(cert, keys.getPrivate());
    }

    /** A client certificate with subject {@code CN=commonName} issued by {@code ca}, valid for a day. */
    public static Issued client(Issued ca, String commonName) {
        KeyPair kp = ecKeys();
        Instant now = Instant.now();
        X509Certificate cert = sign(kp, new X500Principal("CN=" + commonName + ", O=Stellane tests"),
                new KeyPair(ca.cert.getPublicKey(), ca.key), ca.cert.getSubjectX500Principal(), serial(),
                now.minus(Duration.ofHours(1)), now.plus(Duration.ofDays(1)), false);
        return new Issued(cert, kp.getPrivate());
    }

    public static KeyPair ecKeys() {
        try {
            KeyPairGenerator g = KeyPairGenerator.getInstance("EC");
            g.initialize(new ECGenParameterSpec("secp256r1"));
            return g.generateKeyPair();
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException(e);
        }
    }

    public static KeyPair rsaKeys() {
        try {
            KeyPairGenerator g = KeyPairGenerator.getInstance("RSA");
            g.initialize(2048);
            return g.generateKeyPair();
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException(e);
        }
    }

    public static BigInteger serial() {
        return new BigInteger(63, RANDOM).add(BigInteger.ONE);
    }

    /**
     * A client context trusting {@code ca}, presenting {@code client} when not null: always, even when
     * the server names other CAs (the JDK's own key manager would then send no certificate at all).
     */
    public static SSLContext clientContext(Issued ca, Issued client) {
        try {
            KeyStore trust = KeyStore.getInstance("PKCS12");
            trust.load(null, null);
            trust.setCertificateEntry("ca", ca.cert);
            TrustManagerFactory tmf = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
            tmf.init(trust);
            KeyManagerFactory kmf = null;
            if (client != null) {
                KeyStore keys = KeyStore.getInstance("PKCS12");
                keys.load(null, null);
                keys.setKeyEntry("client", client.key, "x".toCharArray(), new Certificate[]{client.cert});
                kmf = KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm());
                kmf.init(keys, "x".toCharArray());
            }
            SSLContext ctx = SSLContext.getInstance("TLS");
            ctx.init(kmf == null ? null : new KeyManager[]{new Presenting((X509ExtendedKeyManager) kmf.getKeyManagers()[0])},
                    tmf.getTrustManagers(), null);
            return ctx;
        } catch (GeneralSecurityException | IOException e) {
            throw new IllegalStateException(e);
        }
    }

    /** Presents its one certificate whatever the server asks for. */
    private static final class Presenting extends X509ExtendedKeyManager {
        private final X509ExtendedKeyManager keys;

        Presenting(X509ExtendedKeyManager keys) {
            this.keys = keys;
        }

        @Override
        public String chooseEngineClientAlias(String[] keyType, Principal[] issuers, SSLEngine engine) {
            return "client";
        }

        @Override
        public String chooseClientAlias(String[] keyType, Principal[] issuers, Socket socket) {
            return "client";
        }

        @Override
        public String[] getClientAliases(String keyType, Principal[] issuers) {
            return new String[]{"client"};
        }

        @Override
        public String[] getServerAliases(String keyType, Principal[] issuers) {
            return null;
        }

        @Override
        public String chooseServerAlias(String keyType, Principal[] issuers, Socket socket) {
            return null;
        }

        @Override
        public X509Certificate[] getCertificateChain(String alias) {
            return keys.getCertificateChain(alias);
        }

        @Override
        public PrivateKey getPrivateKey(String alias) {
            return keys.getPrivateKey(alias);
        }
    }

    // ---------------------------------------------------------------- DER

    private static final byte[] ECDSA_SHA256 = oid(1, 2, 840, 10045, 4, 3, 2);
    private static final byte[] RSA_SHA256 = oid(1, 2, 840, 113549, 1, 1, 11);
    private static final byte[] BASIC_CONSTRAINTS = oid(2, 5, 29, 19);
    private static final byte[] SUBJECT_ALT_NAME = oid(2, 5, 29, 17);
    private static final byte[] KEY_USAGE = oid(2, 5, 29, 15);

    private static X509Certificate sign(KeyPair subjectKeys, X500Principal subject, KeyPair issuerKeys,
                                        X500Principal issuer, BigInteger serial, Instant notBefore, Instant notAfter,
                                        boolean ca) {
        boolean rsa = issuerKeys.getPrivate().getAlgorithm().equals("RSA");
        byte[] algorithm = rsa ? tlv(0x30, RSA_SHA256, new byte[]{0x05, 0x00}) : tlv(0x30, ECDSA_SHA256);
        List<byte[]> extensions = new ArrayList<>();
        extensions.add(tlv(0x30, BASIC_CONSTRAINTS, new byte[]{0x01, 0x01, (byte) 0xff},
                tlv(0x04, ca ? tlv(0x30, new byte[]{0x01, 0x01, (byte) 0xff}) : tlv(0x30))));
        if (ca) {
            // keyCertSign and cRLSign: bits 5 and 6
            extensions.add(tlv(0x30, KEY_USAGE, new byte[]{0x01, 0x01, (byte) 0xff},
                    tlv(0x04, new byte[]{0x03, 0x02, 0x01, 0x06})));
        } else {
            byte[] dns = tlv(0x82, "localhost".getBytes(StandardCharsets.US_ASCII));
            byte[] ip = tlv(0x87, new byte[]{127, 0, 0, 1});
            extensions.add(tlv(0x30, SUBJECT_ALT_NAME, tlv(0x04, tlv(0x30, dns, ip))));
        }
        byte[] tbs = tlv(0x30,
                tlv(0xa0, tlv(0x02, new byte[]{0x02})), // v3
                tlv(0x02, serial.toByteArray()),
                algorithm,
                issuer.getEncoded(),
                tlv(0x30, time(notBefore), time(notAfter)),
                subject.getEncoded(),
                subjectKeys.getPublic().getEncoded(),
                tlv(0xa3, tlv(0x30, extensions.toArray(byte[][]::new))));
        try {
            Signature s = Signature.getInstance(rsa ? "SHA256withRSA" : "SHA256withECDSA");
            s.initSign(issuerKeys.getPrivate());
            s.update(tbs);
            byte[] sig = s.sign();
            byte[] bits = new byte[sig.length + 1]; // no unused bits
            System.arraycopy(sig, 0, bits, 1, sig.length);
            byte[] der = tlv(0x30, tbs, algorithm, tlv(0x03, bits));
            return (X509Certificate) CertificateFactory.getInstance("X.509")
                    .generateCertificate(new ByteArrayInputStream(der));
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException(e);
        }
    }

    private static byte[] time(Instant t) {
        var utc = t.atOffset(ZoneOffset.UTC);
        if (utc.getYear() >= 1950 && utc.getYear() < 2050) {
            return tlv(0x17, DateTimeFormatter.ofPattern("yyMMddHHmmss'Z'").format(utc).getBytes(StandardCharsets.US_ASCII));
        }
        return tlv(0x18, DateTimeFormatter.ofPattern("yyyyMMddHHmmss'Z'").format(utc).getBytes(StandardCharsets.US_ASCII));
    }

    private static byte[] oid(int... arcs) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        out.write(40 * arcs[0] + arcs[1]);
        for (int i = 2; i < arcs.length; i++) {
            int v = arcs[i];
            int shift = 28;
            while (shift > 0 && (v >>> shift) == 0) {
                shift -= 7;
            }
            for (; shift > 0; shift -= 7) {
                out.write(0x80 | ((v >>> shift) & 0x7f));
            }
            out.write(v & 0x7f);
        }
        return tlv(0x06, out.toByteArray());
    }

    private static byte[] tlv(int tag, byte[]... parts) {
        ByteArrayOutputStream content = new ByteArrayOutputStream();
        for (byte[] p : parts) {
            content.writeBytes(p);
        }
        int n = content.size();
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        out.write(tag);
        if (n < 0x80) {
            out.write(n);
        } else if (n < 0x100) {
            out.write(0x81);
            out.write(n);
        } else {
            out.write(0x82);
            out.write(n >>> 8);
            out.write(n & 0xff);
        }
        out.writeBytes(content.toByteArray());
        return out.toByteArray();
    }

    /** Just enough of a DER reader to take a PKCS#1 key out of its PKCS#8 wrapping. */
    private static final class Der {
        private final byte[] b;
        private int at;
        private final int end;

        Der(byte[] b) {
            this(b, 0, b.length);
        }

        private Der(byte[] b, int from, int end) {
            this.b = b;
            this.at = from;
            this.end = end;
        }

        private int[] header(int tag) {
            if ((b[at] & 0xff) != tag || at >= end) {
                throw new IllegalArgumentException("DER tag " + (b[at] & 0xff) + ", expected " + tag);
            }
            int len = b[at + 1] & 0xff;
            int off = at + 2;
            if (len >= 0x80) {
                int bytes = len & 0x7f;
                len = 0;
                for (int i = 0; i < bytes; i++) {
                    len = (len << 8) | (b[off + i] & 0xff);
                }
                off += bytes;
            }
            return new int[]{off, len};
        }

        Der enter(int tag) {
            int[] h = header(tag);
            at = h[0] + h[1];
            return new Der(b, h[0], h[0] + h[1]);
        }

        void skip(int tag) {
            int[] h = header(tag);
            at = h[0] + h[1];
        }

        byte[] content(int tag) {
            int[] h = header(tag);
            at = h[0] + h[1];
            return java.util.Arrays.copyOfRange(b, h[0], h[0] + h[1]);
        }
    }

    // ---------------------------------------------------------------- PEM

    public static byte[] encoded(X509Certificate cert) {
        try {
            return cert.getEncoded();
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException(e);
        }
    }

    public static String pem(String type, byte[] der) {
        return "-----BEGIN " + type + "-----\n"
                + Base64.getMimeEncoder(64, new byte[]{'\n'}).encodeToString(der)
                + "\n-----END " + type + "-----\n";
    }

    /** Writes {@code text} to {@code file} through a temporary file and a rename, as certificate tools do. */
    public static Path write(Path file, String text) {
        try {
            Path tmp = Files.createTempFile(file.toAbsolutePath().getParent(), file.getFileName().toString(), ".tmp");
            Files.writeString(tmp, text, StandardCharsets.US_ASCII);
            Files.move(tmp, file, java.nio.file.StandardCopyOption.REPLACE_EXISTING,
                    java.nio.file.StandardCopyOption.ATOMIC_MOVE);
            return file;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
