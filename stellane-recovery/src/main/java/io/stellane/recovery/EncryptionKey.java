package io.stellane.recovery;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.GeneralSecurityException;
import java.util.Arrays;
import java.util.Base64;
import java.util.HexFormat;
import java.util.Objects;
import java.util.Set;
import javax.crypto.Mac;
import javax.crypto.SecretKey;
import javax.crypto.spec.SecretKeySpec;

/**
 * The 256-bit key a recovery store encrypts its records with ({@link RecoveryStoreConfig#encryptionKey()}).
 * Records are sealed with AES-256-GCM under a key derived from this one; a store keeps only the
 * {@link #fingerprint()} (also derived, one-way), so it can tell at open that a journal was written
 * with another key. {@link #toString()} shows the fingerprint, never the key. Immutable and thread-safe.
 */
public final class EncryptionKey {
    /** Bytes of key material: AES-256. */
    public static final int LENGTH = 32;
    private static final Set<PosixFilePermission> OWNER_ONLY = Set.of(PosixFilePermission.OWNER_READ,
            PosixFilePermission.OWNER_WRITE, PosixFilePermission.OWNER_EXECUTE);

    private final SecretKey sealing;
    private final String fingerprint;

    private EncryptionKey(byte[] key) {
        if (key.length != LENGTH) {
            throw new IllegalArgumentException("an encryption key is " + LENGTH + " bytes, not " + key.length);
        }
        // separate keys for sealing and for the fingerprint, so what is stored reveals nothing usable
        byte[] derived = derive(key, "stellane journal record key v1");
        sealing = new SecretKeySpec(derived, "AES");
        Arrays.fill(derived, (byte) 0);
        fingerprint = HexFormat.of().formatHex(derive(key, "stellane journal key fingerprint v1"), 0, 16);
    }

    /** The key as {@code LENGTH} raw bytes (copied; the caller may clear its array). */
    public static EncryptionKey of(byte[] key) {
        return new EncryptionKey(Objects.requireNonNull(key, "key").clone());
    }

    /**
     * The key from its base64 text (what {@code openssl rand -base64 32} prints; blanks around it
     * ignored).
     *
     * @throws IllegalArgumentException if it is not base64 for {@value #LENGTH} bytes; the message never
     *                                  repeats the text
     */
    public static EncryptionKey fromBase64(String text) {
        byte[] key;
        try {
            key = Base64.getDecoder().decode(Objects.requireNonNull(text, "text").strip());
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("the encryption key is not valid base64 (expected " + LENGTH
                    + " bytes in base64, e.g. from openssl rand -base64 32)");
        }
        try {
            return new EncryptionKey(key);
        } finally {
            Arrays.fill(key, (byte) 0);
        }
    }

    /**
     * The key from a file holding its base64 text. The file must be accessible to its owner only
     * (mode 0600 or 0400): a key others can read protects nothing.
     *
     * @throws RecoveryException naming the file, and its mode when that is what is wrong; never the contents
     */
    public static EncryptionKey fromFile(Path file) {
        Objects.requireNonNull(file, "file");
        byte[] bytes;
        try {
            Set<PosixFilePermission> mode = Files.getPosixFilePermissions(file);
            if (!OWNER_ONLY.containsAll(mode)) {
                throw new RecoveryException("encryption key file " + file + " has mode " + octal(mode) + " ("
                        + PosixFilePermissions.toString(mode) + "): group or others can access it; allowed: a file"
                        + " only its owner can access (chmod 600 or 400)");
            }
            bytes = Files.readAllBytes(file);
        } catch (IOException e) {
            throw new RecoveryException("cannot read encryption key file " + file + ": " + e, e);
        }
        String text = new String(bytes, StandardCharsets.US_ASCII);
        Arrays.fill(bytes, (byte) 0);
        try {
            return fromBase64(text);
        } catch (IllegalArgumentException e) {
            throw new RecoveryException("encryption key file " + file + " does not hold a key: " + e.getMessage());
        }
    }

    /** A one-way, stable name of this key (32 hex digits): what stores keep to recognise it. */
    public String fingerprint() {
        return fingerprint;
    }

    /** The AES key records are sealed with (derived from this key); for store implementations. */
    public SecretKey sealingKey() {
        return sealing;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof EncryptionKey k && fingerprint.equals(k.fingerprint);
    }

    @Override
    public int hashCode() {
        return fingerprint.hashCode();
    }

    @Override
    public String toString() {
        return "EncryptionKey[fingerprint " + fingerprint + "]";
    }

    private static byte[] derive(byte[] key, String purpose) {
        try {
            Mac mac = Mac.getInstance("HmacSHA256");
            mac.init(new SecretKeySpec(key, "HmacSHA256"));
            return mac.doFinal(purpose.getBytes(StandardCharsets.US_ASCII));
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("HmacSHA256 is missing from this JDK", e);
        }
    }

    private static String octal(Set<PosixFilePermission> mode) {
        int bits = 0;
        for (PosixFilePermission p : mode) {
            bits |= 1 << (8 - p.ordinal()); // OWNER_READ is ordinal 0 and bit 0400
        }
        return String.format("%04o", bits);
    }
}
