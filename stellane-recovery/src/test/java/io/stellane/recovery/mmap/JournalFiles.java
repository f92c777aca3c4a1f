package io.stellane.recovery.mmap;

import io.stellane.recovery.Journal;
import io.stellane.recovery.JournaledRequest;
import io.stellane.recovery.RecoveryStoreConfig;
import io.stellane.recovery.internal.RecordCodec;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.List;
import java.util.stream.Stream;

/** Helpers that look at and damage journal files the way crashes and disks do. */
final class JournalFiles {
    private JournalFiles() {
    }

    static List<Path> segments(Path dir) {
        try (Stream<Path> s = Files.list(dir)) {
            return s.filter(p -> Segment.parseBaseSeq(p.getFileName().toString()) >= 0).sorted().toList();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Every file of the journal but its lock file: segments, a spare being prepared, leftovers. */
    static List<Path> journalFiles(Path dir) {
        try (Stream<Path> s = Files.list(dir)) {
            return s.filter(p -> !p.getFileName().toString().equals(MmapStorage.LOCK_FILE)).sorted().toList();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** A journal on the mmap storage at {@code config.path()}. */
    static Journal open(RecoveryStoreConfig config) {
        return Journal.open(new MmapStorageProvider(), config);
    }

    /** A journal on the mmap storage whose every force goes through {@code msync}. */
    static Journal open(RecoveryStoreConfig config, MmapStorage.Msync msync) {
        return Journal.open(new MmapStorageProvider(msync), config);
    }

    /** The payload of the frame that journals {@code r} without a key: the put of its PENDING record. */
    static byte[] requestPayload(JournaledRequest r) {
        byte[] id = r.requestId().getBytes(StandardCharsets.UTF_8);
        byte[] value = new RecordCodec.Writer(64).request(r).toByteArray();
        return ByteBuffer.allocate(FrameWriter.PUT_PREFIX + id.length + value.length).putLong(0).putInt(id.length)
                .put(id).put(value).array();
    }

    /** Aligned size of the frame that journals {@code r}. */
    static int requestFrameSize(JournaledRequest r) {
        return FrameWriter.align8(FrameWriter.HEADER + requestPayload(r).length);
    }

    static void flipBit(Path file, long offset, int bit) {
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ, StandardOpenOption.WRITE)) {
            ByteBuffer b = ByteBuffer.allocate(1);
            ch.read(b, offset);
            b.put(0, (byte) (b.get(0) ^ (1 << bit))).rewind();
            ch.write(b, offset);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    static void write(Path file, long offset, byte[] bytes) {
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.WRITE)) {
            ch.write(ByteBuffer.wrap(bytes), offset);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    static byte[] read(Path file, long offset, int length) {
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            ByteBuffer b = ByteBuffer.allocate(length);
            ch.read(b, offset);
            return b.array();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    static void truncate(Path file, long size) {
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.WRITE)) {
            ch.truncate(size);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Offset just past the last non-zero byte of the file. */
    static long endOfData(Path file) {
        try {
            byte[] all = Files.readAllBytes(file);
            int i = all.length;
            while (i > 0 && all[i - 1] == 0) {
                i--;
            }
            return i;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Runs {@code action} and returns what it logged (slf4j-simple writes to System.err). */
    static String stderrOf(Runnable action) {
        PrintStream original = System.err;
        ByteArrayOutputStream captured = new ByteArrayOutputStream();
        System.setErr(new PrintStream(captured, true, StandardCharsets.UTF_8));
        try {
            action.run();
        } finally {
            System.setErr(original);
        }
        String text = captured.toString(StandardCharsets.UTF_8);
        original.print(text);
        return text;
    }
}
