package io.stellane.recovery.mmap;

import io.stellane.recovery.EncryptionKey;
import io.stellane.recovery.JournaledRequest;
import io.stellane.recovery.RecoveryException;
import io.stellane.recovery.StoredResponse;
import io.stellane.recovery.spi.JournalStorage.Kind;
import io.stellane.recovery.spi.JournalStorage.Record;
import io.stellane.recovery.internal.RecordCipher;
import io.stellane.recovery.internal.RecordCodec;
import io.stellane.recovery.internal.RecordValues;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.zip.CRC32C;

/**
 * Reads segments of format 1, which versions before the journal wrote: a log of the journal's own
 * events (REQUEST, ATTEMPT, COMPLETE, QUARANTINE, CUSTOM_DATA, CLEAN_SHUTDOWN; compaction's
 * SNAPSHOT copies), each payload sealed on its own with the event type as context when the journal
 * had a key. Replays them and returns the records the journal keeps today, sealed as the journal
 * seals them, so that the storage can write them in format 2 and delete the old files. The one place
 * a storage opens and seals values: a conversion, once.
 */
final class FormatOneReader {
    private static final byte REQUEST = 1;
    private static final byte ATTEMPT = 2;
    private static final byte COMPLETE = 3;
    private static final byte QUARANTINE = 4;
    private static final byte CUSTOM_DATA = 5;
    private static final byte CLEAN_SHUTDOWN = 6;
    private static final byte FLAG_SNAPSHOT = 1;
    private static final byte FLAG_ENCRYPTED = 2;

    private final MmapStorage s;
    private final RecordCipher cipher;
    private final CRC32C crc = new CRC32C();
    private final HashMap<String, Entry> entries = new HashMap<>();
    private final HashMap<String, Answer> answers = new HashMap<>();
    private long lastSeq;

    private static final class Entry {
        final JournaledRequest request;
        final long originSeq;
        final LinkedHashMap<String, String> custom = new LinkedHashMap<>();
        int attempts;
        String lastFailure;
        String quarantineReason;
        long quarantinedAt;

        Entry(JournaledRequest request, long originSeq) {
            this.request = request;
            this.originSeq = originSeq;
        }
    }

    private record Answer(StoredResponse response, long expiresAt) {
    }

    FormatOneReader(MmapStorage storage) {
        this.s = storage;
        EncryptionKey key = storage.config.encryptionKey();
        this.cipher = key == null ? null : new RecordCipher(key);
    }

    /** The records the segments hold, in the journal's format; the last is the clean-shutdown mark if there was one. */
    List<Record> read(List<Segment> segments) {
        int lastType = -1;
        for (Segment seg : segments) {
            int pos = Segment.FILE_HEADER;
            String stop = null;
            while (pos + FrameWriter.HEADER <= seg.capacity) {
                int len = seg.buf.getInt(pos);
                if (len == 0) {
                    break;
                }
                stop = FrameScanner.damage(seg, pos, len, lastSeq, crc);
                if (stop != null) {
                    break;
                }
                long seq = seg.buf.getLong(pos + 16);
                byte type = seg.buf.get(pos + 8);
                byte flags = seg.buf.get(pos + 9);
                byte[] payload = new byte[len - FrameWriter.HEADER];
                seg.buf.get(pos + FrameWriter.HEADER, payload);
                if ((flags & FLAG_ENCRYPTED) != 0) {
                    // fatal, not a torn tail: the CRC held, so the key is missing or wrong
                    if (cipher == null) {
                        throw new RecoveryException("recovery journal " + s.dir + " holds encrypted records ("
                                + seg.path + " at offset " + pos + ") and no encryption key is configured; "
                                + RecordCipher.KEY_HINT);
                    }
                    try {
                        payload = cipher.open(type, null, payload, 0, payload.length);
                    } catch (RecoveryException e) {
                        throw new RecoveryException("recovery journal " + s.dir + ": " + e.getMessage() + " ("
                                + seg.path + " at offset " + pos + ")", e);
                    }
                }
                Runnable apply;
                try {
                    apply = decode(type, flags, seq, payload);
                } catch (RuntimeException e) {
                    stop = "undecodable record of type " + type + ": " + e.getMessage();
                    break;
                }
                apply.run();
                lastSeq = seq;
                lastType = type;
                pos += FrameWriter.align8(len);
            }
            if (stop != null) {
                MmapStorage.LOG.warn("recovery journal {}: {} at offset {} in {} (format 1); the rest of the segment"
                        + " is ignored", s.dir, stop, pos, seg.path);
            }
        }
        return records(lastType == CLEAN_SHUTDOWN);
    }

    /** The highest sequence number read. */
    long lastSeq() {
        return lastSeq;
    }

    private List<Record> records(boolean clean) {
        List<Record> out = new ArrayList<>();
        List<Entry> live = new ArrayList<>(entries.values());
        live.sort(Comparator.comparingLong(e -> e.originSeq));
        for (Entry e : live) {
            byte[] id = e.request.requestId().getBytes(StandardCharsets.UTF_8);
            Kind kind = e.quarantineReason == null ? Kind.PENDING : Kind.QUARANTINED;
            out.add(new Record(kind, e.originSeq, id,
                    RecordValues.seal(cipher, RecordValues.SEALED_REQUEST, id, RecordCodec.encode(e.request))));
            if (e.attempts > 0 || !e.custom.isEmpty() || e.quarantineReason != null) {
                byte[] state = RecordValues.state(e.originSeq, e.request.idempotencyKey(), e.attempts, e.lastFailure,
                        e.custom, e.quarantineReason, e.quarantinedAt);
                out.add(new Record(Kind.STATE, 0, id, RecordValues.seal(cipher, RecordValues.SEALED_STATE, id, state)));
            }
        }
        for (Map.Entry<String, Answer> a : answers.entrySet()) {
            byte[] key = a.getKey().getBytes(StandardCharsets.UTF_8);
            out.add(new Record(Kind.ANSWER, 0, key,
                    RecordValues.answer(cipher, key, a.getValue().expiresAt, a.getValue().response)));
        }
        if (clean) {
            out.add(new Record(Kind.META, 0, "clean_shutdown".getBytes(StandardCharsets.UTF_8), new byte[] {1}));
        }
        return out;
    }

    /** Decodes a frame fully (throwing on corrupt input) and returns how to apply it. */
    private Runnable decode(byte type, byte flags, long seq, byte[] payload) {
        RecordCodec.Reader in = new RecordCodec.Reader(payload);
        boolean snapshot = (flags & FLAG_SNAPSHOT) != 0;
        Runnable apply = switch (type) {
            case REQUEST -> {
                JournaledRequest r = in.request();
                if (!snapshot) {
                    yield () -> entries.putIfAbsent(r.requestId(), new Entry(r, seq));
                }
                Entry e = new Entry(r, in.i64());
                e.attempts = in.i32();
                e.lastFailure = in.str();
                e.custom.putAll(in.map());
                e.quarantineReason = in.str();
                e.quarantinedAt = in.i64();
                yield () -> entries.put(r.requestId(), e);
            }
            case ATTEMPT -> {
                String id = in.str();
                int n = in.i32();
                String reason = in.str();
                yield () -> {
                    Entry e = entries.get(id);
                    if (e != null) {
                        e.attempts = Math.max(e.attempts, n);
                        e.lastFailure = reason;
                    }
                };
            }
            case COMPLETE -> {
                String id = in.str();
                String key = in.str();
                long expires = in.i64();
                StoredResponse response = in.response();
                yield () -> {
                    if (!snapshot) {
                        entries.remove(id);
                    }
                    if (key != null && response != null) {
                        answers.put(key, new Answer(response, expires));
                    }
                };
            }
            case QUARANTINE -> {
                String id = in.str();
                String reason = Objects.requireNonNull(in.str(), "quarantine reason");
                long at = in.i64();
                yield () -> {
                    Entry e = entries.get(id);
                    if (e != null) {
                        e.quarantineReason = reason;
                        e.quarantinedAt = at;
                    }
                };
            }
            case CUSTOM_DATA -> {
                String id = in.str();
                Map<String, String> data = in.map();
                yield () -> {
                    Entry e = entries.get(id);
                    if (e != null) {
                        e.custom.putAll(data);
                    }
                };
            }
            case CLEAN_SHUTDOWN -> () -> { };
            default -> throw new IllegalArgumentException("unknown record type " + type);
        };
        if (in.hasRemaining()) {
            throw new IllegalArgumentException("trailing bytes in record");
        }
        return apply;
    }
}
