package io.stellane.recovery.internal;

import io.stellane.recovery.StoredResponse;
import java.util.Map;

/**
 * How the journal encodes and seals the values of its records ({@link io.stellane.recovery.spi.JournalStorage.Kind}); for
 * the journal, and for a storage that converts records of an earlier format of its own. A sealed
 * value is {@link RecordCipher}'s, with the value's context below and the record's key as
 * associated data.
 */
public final class RecordValues {
    /** The sealing context of PENDING and QUARANTINED values. */
    public static final byte SEALED_REQUEST = 1;
    /** The sealing context of STATE values. */
    public static final byte SEALED_STATE = 2;
    /** The sealing context of the response in ANSWER values. */
    public static final byte SEALED_RESPONSE = 3;
    private static final int STATE_VERSION = 1;

    private RecordValues() {
    }

    /** {@code clear} sealed for {@code context} and {@code key}; as it is with no cipher. */
    public static byte[] seal(RecordCipher cipherOrNull, byte context, byte[] key, byte[] clear) {
        return cipherOrNull == null ? clear : cipherOrNull.seal(context, key, clear, 0, clear.length);
    }

    /**
     * A STATE value in clear: {@code u8 1 | i64 seq | str idempotencyKey | i32 attempts |
     * str lastFailure | map customData | str quarantineReason | i64 quarantinedAt}.
     */
    public static byte[] state(long seq, String idempotencyKey, int attempts, String lastFailure,
                               Map<String, String> customData, String quarantineReason, long quarantinedAt) {
        return new RecordCodec.Writer(64).u8(STATE_VERSION).i64(seq).str(idempotencyKey).i32(attempts)
                .str(lastFailure).map(customData).str(quarantineReason).i64(quarantinedAt).toByteArray();
    }

    /** A STATE value read back; {@code seq} and {@code idempotencyKey} repeat what the request's record holds. */
    public record State(long seq, String idempotencyKey, int attempts, String lastFailure,
                        Map<String, String> customData, String quarantineReason, long quarantinedAt) {
    }

    /** @throws IllegalArgumentException if {@code clear} is no STATE value */
    public static State state(byte[] clear) {
        RecordCodec.Reader in = new RecordCodec.Reader(clear);
        int version = in.u8();
        if (version != STATE_VERSION) {
            throw new IllegalArgumentException("unknown state version " + version);
        }
        State s = new State(in.i64(), in.str(), in.i32(), in.str(), in.map(), in.str(), in.i64());
        if (in.hasRemaining()) {
            throw new IllegalArgumentException("trailing bytes in state");
        }
        return s;
    }

    /** An ANSWER value: the expiry in clear (a storage may index it), then the response, sealed with a cipher. */
    public static byte[] answer(RecordCipher cipherOrNull, byte[] idempotencyKey, long expires, StoredResponse r) {
        RecordCodec.Writer clear = new RecordCodec.Writer(64 + r.bodyLength()).response(r);
        if (cipherOrNull == null) {
            return new RecordCodec.Writer(8 + clear.size()).i64(expires).response(r).toByteArray();
        }
        byte[] out = new byte[8 + clear.size() + RecordCipher.OVERHEAD];
        byte[] be = new RecordCodec.Writer(8).i64(expires).toByteArray();
        System.arraycopy(be, 0, out, 0, 8);
        cipherOrNull.seal(SEALED_RESPONSE, idempotencyKey, clear.array(), 0, clear.size(), out, 8);
        return out;
    }
}
