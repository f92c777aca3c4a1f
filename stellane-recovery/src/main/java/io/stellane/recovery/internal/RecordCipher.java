package io.stellane.recovery.internal;

import io.stellane.recovery.EncryptionKey;
import io.stellane.recovery.RecoveryException;
import java.security.GeneralSecurityException;
import java.security.SecureRandom;
import java.util.Objects;
import javax.crypto.AEADBadTagException;
import javax.crypto.Cipher;
import javax.crypto.SecretKey;
import javax.crypto.spec.GCMParameterSpec;

/**
 * Seals record payloads for storage with AES-256-GCM, and opens them again; for store implementors.
 *
 * <pre>
 * sealed = u8 0xE1 | 12-byte nonce | ciphertext (as long as the payload) | 16-byte tag
 * nonce  = 4 random bytes chosen per instance | u64 counter, from a random start, +1 per record
 * associated data = u8 context | the caller's extra bytes (e.g. the record's key): a sealed payload
 *                   only opens where it was sealed for
 * </pre>
 * The marker cannot begin a clear payload of the stores here, so a store that gains a key reads the
 * records it wrote without one ({@link #isSealed}). A nonce never repeats within an instance, and
 * two instances share one only if 96 random bits collide.
 *
 * <p>Not thread-safe: use one per thread, or one under the store's lock.
 */
public final class RecordCipher {
    /** The first byte of every sealed payload. */
    public static final byte MARKER = (byte) 0xE1;
    private static final int NONCE = 12;
    private static final int TAG = 16;
    /** Bytes a sealed payload has beyond its clear payload. */
    public static final int OVERHEAD = 1 + NONCE + TAG;
    private static final SecureRandom RANDOM = new SecureRandom();

    private final Cipher cipher;
    private final SecretKey key;
    private final String fingerprint;
    private final byte[] nonce = new byte[NONCE];
    private final byte[] context = new byte[1];
    private long counter;

    public RecordCipher(EncryptionKey key) {
        this.key = Objects.requireNonNull(key, "key").sealingKey();
        this.fingerprint = key.fingerprint();
        try {
            cipher = Cipher.getInstance("AES/GCM/NoPadding");
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("AES/GCM is missing from this JDK", e);
        }
        byte[] start = new byte[NONCE];
        RANDOM.nextBytes(start);
        System.arraycopy(start, 0, nonce, 0, 4);
        for (int i = 4; i < NONCE; i++) {
            counter = (counter << 8) | (start[i] & 0xff);
        }
    }

    /** How to fix a key that does not match, for the messages of stores. */
    public static final String KEY_HINT = "configure the key it was written with (RecoveryStoreConfig.withEncryptionKey;"
            + " runtime.recovery.encryption_key_file or STELLANE_RUNTIME_RECOVERY_ENCRYPTION_KEY)";

    /**
     * Checks the key fingerprint a store kept ({@code stored}, null if it kept none) against the
     * configured key ({@code key}, null if none). Returns whether the store should now keep
     * {@code key}'s fingerprint: it has none yet and a key is configured (a clear-text journal that
     * from now on is written encrypted).
     *
     * @param store names the store in the message, e.g. {@code "recovery journal /var/lib/j"}
     * @throws RecoveryException if the store was written with a key and none, or another one, is configured
     */
    public static boolean checkFingerprint(String store, String stored, EncryptionKey key) {
        if (stored == null) {
            return key != null;
        }
        if (key == null) {
            throw new RecoveryException(store + " is encrypted (key fingerprint " + stored
                    + ") and no encryption key is configured; " + KEY_HINT);
        }
        if (!stored.equals(key.fingerprint())) {
            throw new RecoveryException(store + " was written with the encryption key of fingerprint " + stored
                    + ", and the configured key's fingerprint is " + key.fingerprint() + "; " + KEY_HINT);
        }
        return false;
    }

    /** Whether {@code bytes} from {@code offset} on are sealed (start with {@link #MARKER}). */
    public static boolean isSealed(byte[] bytes, int offset) {
        return bytes.length > offset && bytes[offset] == MARKER;
    }

    /**
     * Seals {@code in[off, off+len)} into {@code out} at {@code outOff}, which must have room for
     * {@code len + OVERHEAD} bytes; returns that length.
     */
    public int seal(byte context, byte[] extraAad, byte[] in, int off, int len, byte[] out, int outOff) {
        long n = counter++;
        for (int i = 0; i < 8; i++) {
            nonce[4 + i] = (byte) (n >>> (56 - 8 * i));
        }
        out[outOff] = MARKER;
        System.arraycopy(nonce, 0, out, outOff + 1, NONCE);
        try {
            cipher.init(Cipher.ENCRYPT_MODE, key, new GCMParameterSpec(TAG * 8, nonce));
            aad(context, extraAad);
            return 1 + NONCE + cipher.doFinal(in, off, len, out, outOff + 1 + NONCE);
        } catch (GeneralSecurityException e) {
            throw new RecoveryException("cannot encrypt a journal record: " + e, e);
        }
    }

    /** {@link #seal(byte, byte[], byte[], int, int, byte[], int)} into a new array of exactly the sealed length. */
    public byte[] seal(byte context, byte[] extraAad, byte[] in, int off, int len) {
        byte[] out = new byte[len + OVERHEAD];
        seal(context, extraAad, in, off, len, out, 0);
        return out;
    }

    /**
     * The clear payload of a sealed one.
     *
     * @throws RecoveryException if it does not open with this key and context: sealed with another
     *                           key (the message names this key's fingerprint), or altered
     */
    public byte[] open(byte context, byte[] extraAad, byte[] in, int off, int len) {
        if (len < OVERHEAD || in[off] != MARKER) {
            throw new RecoveryException("a journal record of " + len + " bytes is not an encrypted record");
        }
        try {
            cipher.init(Cipher.DECRYPT_MODE, key, new GCMParameterSpec(TAG * 8, in, off + 1, NONCE));
            aad(context, extraAad);
            return cipher.doFinal(in, off + 1 + NONCE, len - 1 - NONCE);
        } catch (AEADBadTagException e) {
            throw new RecoveryException("a journal record does not decrypt with the configured encryption key"
                    + " (fingerprint " + fingerprint + "): it was written with another key, or altered");
        } catch (GeneralSecurityException e) {
            throw new RecoveryException("cannot decrypt a journal record: " + e, e);
        }
    }

    /** {@link #open(byte, byte[], byte[], int, int)} of a whole array. */
    public byte[] open(byte context, byte[] extraAad, byte[] sealed) {
        return open(context, extraAad, sealed, 0, sealed.length);
    }

    private void aad(byte context, byte[] extra) {
        this.context[0] = context;
        cipher.updateAAD(this.context);
        if (extra != null && extra.length > 0) {
            cipher.updateAAD(extra);
        }
    }
}
