package io.stellane.recovery.memory;

import io.stellane.recovery.JournalFullException;
import io.stellane.recovery.RecoveryException;
import io.stellane.recovery.RecoveryStoreConfig;
import io.stellane.recovery.spi.JournalStorage;
import io.stellane.recovery.spi.JournalStorageProvider;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Consumer;

/**
 * The {@code "memory"} journal storage: records in this process's heap, kept by directory path
 * across close and reopen, gone with the process. For tests and for servers that want replays of
 * failed handlers but no crash recovery. Deleted values stay in memory until {@link #reclaim()} or
 * close, as a file would hold them, so that the journal's retention rules are the same for every
 * storage. {@code maxJournalBytes} caps the bytes of live values.
 */
public final class MemoryStorage implements JournalStorage {
    /** What each directory holds, while no process restart intervenes. */
    private static final Map<Path, MemoryStorage.Contents> DIRECTORIES = new ConcurrentHashMap<>();

    /** Finds the storage by name; listed in {@code META-INF/services}. */
    public static final class Provider implements JournalStorageProvider {
        @Override
        public String name() {
            return "memory";
        }

        @Override
        public JournalStorage open(RecoveryStoreConfig config) {
            return new MemoryStorage(config);
        }
    }

    private record Key(Kind kind, String key) {
    }

    private static final class Contents {
        final Map<Key, JournalStorage.Record> live = new HashMap<>();
        final List<byte[]> dropped = new ArrayList<>();
        boolean open;
        long liveBytes;
    }

    private final Path dir;
    private final long cap;
    private final Contents contents;
    private long written;

    private MemoryStorage(RecoveryStoreConfig config) {
        this.dir = config.path().toAbsolutePath();
        this.cap = config.maxJournalBytes();
        Contents c = DIRECTORIES.computeIfAbsent(dir, d -> new Contents());
        synchronized (c) {
            if (c.open) {
                throw new RecoveryException("recovery journal " + dir + " is already open in this process");
            }
            c.open = true;
        }
        this.contents = c;
    }

    @Override
    public void scan(Consumer<JournalStorage.Record> into) {
        synchronized (contents) {
            contents.live.values().stream().sorted(Comparator.comparingLong(JournalStorage.Record::seq)).forEach(into);
        }
    }

    @Override
    public long write(List<JournalStorage.Record> records, boolean admits) {
        synchronized (contents) {
            if (admits) {
                long adding = 0;
                for (JournalStorage.Record r : records) {
                    adding += size(r);
                }
                if (contents.liveBytes + adding > cap) {
                    throw new JournalFullException("recovery journal " + dir + " is full: " + contents.liveBytes
                            + " bytes of records held (maxJournalBytes " + cap + "); the request was not journaled."
                            + " Complete or quarantine requests, or raise maxJournalBytes");
                }
            }
            for (JournalStorage.Record r : records) {
                Key k = new Key(r.kind(), new String(r.key(), StandardCharsets.UTF_8));
                JournalStorage.Record before = r.isDelete() ? contents.live.remove(k) : contents.live.put(k, copy(r));
                if (before != null) {
                    contents.liveBytes -= size(before);
                    contents.dropped.add(before.value());
                }
                if (!r.isDelete()) {
                    contents.liveBytes += size(r);
                }
            }
            return ++written;
        }
    }

    private static JournalStorage.Record copy(JournalStorage.Record r) {
        return new JournalStorage.Record(r.kind(), r.seq(), r.key().clone(), r.value().clone());
    }

    private static long size(JournalStorage.Record r) {
        return r.key().length + (r.value() == null ? 0 : r.value().length) + 16;
    }

    @Override
    public void sync(long position) {
        // the heap is as durable as this storage gets
    }

    @Override
    public boolean reclaim() {
        synchronized (contents) {
            contents.dropped.clear();
        }
        return true;
    }

    @Override
    public void heal() {
        // never faults
    }

    @Override
    public long bytesOnDisk() {
        synchronized (contents) {
            return contents.liveBytes;
        }
    }

    @Override
    public int files() {
        return 1;
    }

    @Override
    public void close() {
        synchronized (contents) {
            contents.dropped.clear();
            contents.open = false;
        }
    }

    @Override
    public String toString() {
        return "MemoryStorage[" + dir + "]";
    }

    /** Whether any value held for {@code dir}, live or deleted but not yet reclaimed, contains {@code needle}. */
    static boolean holds(Path dir, byte[] needle) {
        Contents c = DIRECTORIES.get(dir.toAbsolutePath());
        if (c == null) {
            return false;
        }
        synchronized (c) {
            List<byte[]> all = new ArrayList<>(c.dropped);
            c.live.values().forEach(r -> {
                all.add(r.key());
                all.add(r.value());
            });
            return all.stream().anyMatch(v -> indexOf(v, needle) >= 0);
        }
    }

    /** What a process killed now would leave at {@code to}, were the heap a disk: a copy of {@code from}'s records. */
    static void copy(Path from, Path to) {
        Contents source = DIRECTORIES.get(from.toAbsolutePath());
        Contents target = new Contents();
        if (source != null) {
            synchronized (source) {
                source.live.forEach((k, r) -> target.live.put(k, copy(r)));
                target.liveBytes = source.liveBytes;
                source.dropped.forEach(v -> target.dropped.add(v.clone()));
            }
        }
        DIRECTORIES.put(to.toAbsolutePath(), target);
    }

    /** Where {@code needle} starts in {@code hay}, or -1: ISO-8859-1 maps each byte to one char, so the JDK's search is exact. */
    private static int indexOf(byte[] hay, byte[] needle) {
        return new String(hay, StandardCharsets.ISO_8859_1).indexOf(new String(needle, StandardCharsets.ISO_8859_1));
    }
}
