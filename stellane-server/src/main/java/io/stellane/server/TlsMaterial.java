package io.stellane.server;

import io.stellane.config.ConfigException;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyFactory;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.security.PrivateKey;
import java.security.PublicKey;
import java.security.Signature;
import java.security.cert.CertificateException;
import java.security.cert.CertificateExpiredException;
import java.security.cert.CertificateFactory;
import java.security.cert.CertificateNotYetValidException;
import java.security.cert.X509Certificate;
import java.security.spec.PKCS8EncodedKeySpec;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The certificate chain, private key and client CAs of a {@link TlsConfig}, read from their PEM files
 * and checked: each file readable and PEM, the certificate valid now, the key the certificate's. Every
 * failure is a {@link ConfigException} whose message starts with the file and says what is wrong in
 * it. Immutable.
 *
 * @param digest what the files held, to tell a change of content from a touch
 */
record TlsMaterial(List<X509Certificate> chain, PrivateKey key, List<X509Certificate> clientCas, byte[] digest) {
    private static final Pattern PEM = Pattern.compile(
            "-----BEGIN ([A-Z0-9 ]+)-----\\s*([A-Za-z0-9+/=\\s]*?)\\s*-----END \\1-----");
    /** The AlgorithmIdentifier of rsaEncryption (with its NULL parameters), DER: what turns PKCS#1 into PKCS#8. */
    private static final byte[] RSA_ALGORITHM = {0x30, 0x0d, 0x06, 0x09, 0x2a, (byte) 0x86, 0x48, (byte) 0x86,
            (byte) 0xf7, 0x0d, 0x01, 0x01, 0x01, 0x05, 0x00};

    X509Certificate leaf() {
        return chain.getFirst();
    }

    static TlsMaterial load(TlsConfig config) {
        MessageDigest sha;
        try {
            sha = MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
        String certText = read(config.certificate(), "certificate", sha);
        String keyText = read(config.privateKey(), "private_key", sha);
        String caText = config.clientCa() == null ? null : read(config.clientCa(), "client_ca", sha);

        List<X509Certificate> chain = certificates(config.certificate(), "certificate", certText);
        checkValidity(config.certificate(), chain.getFirst());
        PrivateKey key = privateKey(config.privateKey(), keyText);
        checkKeyMatches(config, chain.getFirst(), key);
        List<X509Certificate> cas = caText == null ? List.of() : certificates(config.clientCa(), "client_ca", caText);
        return new TlsMaterial(chain, key, cas, sha.digest());
    }

    private static String read(Path file, String key, MessageDigest sha) {
        byte[] bytes;
        try {
            bytes = Files.readAllBytes(file);
        } catch (IOException | SecurityException e) {
            throw new ConfigException("tls." + key, file + ": cannot be read (" + e + ")", e);
        }
        sha.update(bytes);
        return new String(bytes, StandardCharsets.US_ASCII);
    }

    private record Block(String type, byte[] der) {
    }

    /** The PEM blocks of {@code text}; an error naming {@code file} when there is none or one is not base64. */
    private static List<Block> blocks(Path file, String key, String text, String expected) {
        List<Block> out = new ArrayList<>();
        Matcher m = PEM.matcher(text);
        while (m.find()) {
            try {
                out.add(new Block(m.group(1), Base64.getMimeDecoder().decode(m.group(2))));
            } catch (IllegalArgumentException e) {
                throw new ConfigException("tls." + key, file + ": its " + m.group(1) + " block is not valid base64");
            }
        }
        if (out.isEmpty()) {
            throw new ConfigException("tls." + key, file + ": not PEM (no -----BEGIN " + expected + "----- block);"
                    + " a DER file converts with openssl x509 -inform der (a key: openssl pkey -inform der)");
        }
        return out;
    }

    private static List<X509Certificate> certificates(Path file, String key, String text) {
        CertificateFactory factory;
        try {
            factory = CertificateFactory.getInstance("X.509");
        } catch (CertificateException e) {
            throw new IllegalStateException(e);
        }
        List<X509Certificate> out = new ArrayList<>();
        for (Block b : blocks(file, key, text, "CERTIFICATE")) {
            if (!b.type.equals("CERTIFICATE")) {
                continue; // a key or parameters kept in the same file
            }
            try {
                out.add((X509Certificate) factory.generateCertificate(new ByteArrayInputStream(b.der)));
            } catch (CertificateException e) {
                throw new ConfigException("tls." + key, file + ": certificate " + (out.size() + 1)
                        + " cannot be parsed: " + e.getMessage());
            }
        }
        if (out.isEmpty()) {
            throw new ConfigException("tls." + key, file + ": holds no CERTIFICATE block");
        }
        return List.copyOf(out);
    }

    private static void checkValidity(Path file, X509Certificate cert) {
        Instant from = cert.getNotBefore().toInstant();
        Instant until = cert.getNotAfter().toInstant();
        try {
            cert.checkValidity();
        } catch (CertificateExpiredException e) {
            throw new ConfigException("tls.certificate", file + ": the certificate (" + describe(cert)
                    + ") expired at " + until + " (valid from " + from + ")");
        } catch (CertificateNotYetValidException e) {
            throw new ConfigException("tls.certificate", file + ": the certificate (" + describe(cert)
                    + ") is not yet valid: from " + from + " until " + until);
        }
    }

    static String describe(X509Certificate cert) {
        return cert.getSubjectX500Principal().getName() + ", serial " + cert.getSerialNumber().toString(16);
    }

    private static PrivateKey privateKey(Path file, String text) {
        List<Block> keys = new ArrayList<>();
        for (Block b : blocks(file, "private_key", text, "PRIVATE KEY")) {
            if (b.type.endsWith("PRIVATE KEY")) {
                keys.add(b);
            }
        }
        if (keys.size() != 1) {
            throw new ConfigException("tls.private_key", file + ": holds " + keys.size() + " private keys; it must"
                    + " hold exactly one (BEGIN PRIVATE KEY)");
        }
        Block b = keys.getFirst();
        byte[] pkcs8 = switch (b.type) {
            case "PRIVATE KEY" -> b.der;
            case "RSA PRIVATE KEY" -> rsaPkcs8(b.der);
            case "ENCRYPTED PRIVATE KEY" -> throw new ConfigException("tls.private_key", file + ": the key is"
                    + " encrypted; give it unencrypted, readable by this service's user only (openssl pkcs8 -in"
                    + " KEY -out PLAIN; chmod 600 PLAIN)");
            default -> throw new ConfigException("tls.private_key", file + ": a " + b.type + " block is not"
                    + " supported; convert it to PKCS#8 with openssl pkcs8 -topk8 -nocrypt -in KEY -out KEY.pk8");
        };
        for (String algorithm : List.of("RSA", "EC", "Ed25519", "Ed448", "RSASSA-PSS")) {
            try {
                return KeyFactory.getInstance(algorithm).generatePrivate(new PKCS8EncodedKeySpec(pkcs8));
            } catch (GeneralSecurityException e) {
                // not this algorithm: try the next
            }
        }
        throw new ConfigException("tls.private_key", file + ": the key cannot be parsed as an RSA, EC or EdDSA"
                + " private key");
    }

    /** A PKCS#8 PrivateKeyInfo around a PKCS#1 RSAPrivateKey: version 0, rsaEncryption, the key as an OCTET STRING. */
    private static byte[] rsaPkcs8(byte[] pkcs1) {
        byte[] octets = der(0x04, pkcs1);
        byte[] body = new byte[3 + RSA_ALGORITHM.length + octets.length];
        body[0] = 0x02; // INTEGER 0
        body[1] = 0x01;
        body[2] = 0x00;
        System.arraycopy(RSA_ALGORITHM, 0, body, 3, RSA_ALGORITHM.length);
        System.arraycopy(octets, 0, body, 3 + RSA_ALGORITHM.length, octets.length);
        return der(0x30, body);
    }

    private static byte[] der(int tag, byte[] content) {
        int n = content.length;
        int lengthBytes = n < 0x80 ? 0 : n < 0x100 ? 1 : n < 0x10000 ? 2 : 3;
        byte[] out = new byte[2 + lengthBytes + n];
        out[0] = (byte) tag;
        if (lengthBytes == 0) {
            out[1] = (byte) n;
        } else {
            out[1] = (byte) (0x80 | lengthBytes);
            for (int i = 0; i < lengthBytes; i++) {
                out[2 + i] = (byte) (n >>> (8 * (lengthBytes - 1 - i)));
            }
        }
        System.arraycopy(content, 0, out, 2 + lengthBytes, n);
        return out;
    }

    /** Signs with the key and verifies with the certificate's public key: works for every key type alike. */
    private static void checkKeyMatches(TlsConfig config, X509Certificate cert, PrivateKey key) {
        PublicKey pub = cert.getPublicKey();
        String algorithm = switch (key.getAlgorithm()) {
            case "RSA" -> "SHA256withRSA";
            case "EC" -> "SHA256withECDSA";
            case "RSASSA-PSS" -> "RSASSA-PSS";
            default -> key.getAlgorithm(); // Ed25519, Ed448, EdDSA
        };
        boolean matches;
        try {
            byte[] probe = "stellane key check".getBytes(StandardCharsets.US_ASCII);
            Signature signer = Signature.getInstance(algorithm);
            if (algorithm.equals("RSASSA-PSS")) {
                signer.setParameter(new java.security.spec.PSSParameterSpec("SHA-256", "MGF1",
                        java.security.spec.MGF1ParameterSpec.SHA256, 32, 1));
            }
            signer.initSign(key);
            signer.update(probe);
            byte[] signature = signer.sign();
            Signature verifier = Signature.getInstance(algorithm);
            if (algorithm.equals("RSASSA-PSS")) {
                verifier.setParameter(new java.security.spec.PSSParameterSpec("SHA-256", "MGF1",
                        java.security.spec.MGF1ParameterSpec.SHA256, 32, 1));
            }
            verifier.initVerify(pub);
            verifier.update(probe);
            matches = verifier.verify(signature);
        } catch (GeneralSecurityException e) {
            matches = false; // e.g. an EC key against an RSA certificate
        }
        if (!matches) {
            throw new ConfigException("tls.private_key", config.privateKey() + ": the key (" + key.getAlgorithm()
                    + ") does not match the certificate in " + config.certificate() + " (" + describe(cert) + ", "
                    + pub.getAlgorithm() + " key)");
        }
    }
}
