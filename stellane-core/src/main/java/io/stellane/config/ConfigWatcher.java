package io.stellane.config;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.file.ClosedWatchServiceException;
import java.nio.file.FileSystems;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardWatchEventKinds;
import java.nio.file.WatchKey;
import java.nio.file.WatchService;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.Arrays;
import java.util.Objects;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * Tells a service when to reload its config: when the file changes on disk (its content, not just
 * its timestamp: editors touch files without changing them), or when the process gets {@code SIGHUP}
 * (the operator asks, whatever the file did). One watcher per file; the callback runs on the
 * watcher's own thread ({@code stellane-config-watcher}), one call at a time, so it may block.
 *
 * <pre>{@code
 * ConfigWatcher watcher = ConfigWatcher.watch(Path.of("stellane.toml"), () -> reload());
 * ...
 * watcher.close();
 * }</pre>
 *
 * <p>How: a {@link WatchService} on the file's directory (editors often write a new file and rename
 * it over the old one, which only the directory sees), events debounced for {@value #QUIET_MILLIS} ms
 * so a save that arrives in several writes is read once, then the content's digest compared with the
 * last one read. {@code SIGHUP} goes through {@code sun.misc.Signal}; where the JVM does not allow
 * handling it, only the file is watched (logged once).
 */
public final class ConfigWatcher implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(ConfigWatcher.class);
    static final long QUIET_MILLIS = 150;
    private static volatile ConfigWatcher hangupTarget;

    private final Path file;
    private final Runnable onChange;
    private final WatchService watch;
    private final Thread thread;
    /** A reload asked for (SIGHUP): the watcher's loop, which wakes every QUIET_MILLIS, picks it up. */
    private final AtomicBoolean hangup = new AtomicBoolean();
    private volatile boolean closed;
    private byte[] digest;

    private ConfigWatcher(Path file, Runnable onChange) throws IOException {
        this.file = file.toAbsolutePath().normalize();
        this.onChange = onChange;
        this.digest = digestOf(this.file);
        Path dir = this.file.getParent();
        this.watch = FileSystems.getDefault().newWatchService();
        dir.register(watch, StandardWatchEventKinds.ENTRY_CREATE, StandardWatchEventKinds.ENTRY_MODIFY,
                StandardWatchEventKinds.ENTRY_DELETE);
        this.thread = Thread.ofPlatform().daemon().name("stellane-config-watcher").unstarted(this::run);
    }

    /**
     * Watches {@code file} and {@code SIGHUP}; {@code onChange} runs after each change of the file's
     * content and after each {@code SIGHUP}.
     *
     * @throws ConfigException when the file's directory cannot be watched
     */
    public static ConfigWatcher watch(Path file, Runnable onChange) {
        Objects.requireNonNull(file, "file");
        Objects.requireNonNull(onChange, "onChange");
        ConfigWatcher w;
        try {
            w = new ConfigWatcher(file, onChange);
        } catch (IOException e) {
            throw new ConfigException(file.toString(), "cannot watch the config file for changes: " + e.getMessage(), e);
        }
        hangupTarget = w;
        installHangupHandler();
        w.thread.start();
        return w;
    }

    /** Asks for a reload as {@code SIGHUP} does (for tests, and for an admin endpoint that wants one). */
    public void requestReload() {
        hangup.set(true);
    }

    private static volatile boolean handlerInstalled;

    private static synchronized void installHangupHandler() {
        if (handlerInstalled) {
            return;
        }
        handlerInstalled = true;
        try {
            sun.misc.SignalHandler before = sun.misc.Signal.handle(new sun.misc.Signal("HUP"), sig -> {
                ConfigWatcher w = hangupTarget;
                if (w != null && !w.closed) {
                    w.requestReload();
                }
            });
            if (before == sun.misc.SignalHandler.SIG_IGN) {
                // the JVM leaves a signal its parent ignored (nohup) ignored, and our handler never runs
                log.warn("SIGHUP is ignored in this process (started under nohup, or by a parent that ignores it);"
                        + " config reloads follow the file only");
            }
        } catch (IllegalArgumentException | UnsupportedOperationException e) {
            log.info("SIGHUP cannot be handled in this JVM ({}); config reloads follow the file only", e.getMessage());
        }
    }

    private void run() {
        while (!closed) {
            try {
                WatchKey key = watch.poll(QUIET_MILLIS, TimeUnit.MILLISECONDS);
                boolean touched = false;
                if (key != null) {
                    touched = concernsFile(key);
                    key.reset();
                    while (touched && (key = watch.poll(QUIET_MILLIS, TimeUnit.MILLISECONDS)) != null) {
                        key.pollEvents(); // more of the same save: wait until it is quiet
                        key.reset();
                    }
                }
                boolean asked = hangup.getAndSet(false);
                if (touched) {
                    byte[] now = digestOf(file);
                    if (Arrays.equals(now, digest)) {
                        touched = false; // saved without a change
                    } else {
                        digest = now;
                    }
                }
                if (touched || asked) {
                    call();
                }
            } catch (ClosedWatchServiceException | InterruptedException e) {
                return;
            }
        }
    }

    private boolean concernsFile(WatchKey key) {
        boolean hit = false;
        for (var event : key.pollEvents()) {
            if (event.context() instanceof Path p && p.equals(file.getFileName())) {
                hit = true;
            } else if (event.kind() == StandardWatchEventKinds.OVERFLOW) {
                hit = true;
            }
        }
        return hit;
    }

    private void call() {
        try {
            onChange.run();
        } catch (RuntimeException e) {
            log.error("config reload of {} failed", file, e);
        }
    }

    private static byte[] digestOf(Path file) {
        try {
            return MessageDigest.getInstance("SHA-256").digest(Files.readAllBytes(file));
        } catch (IOException e) {
            return new byte[0]; // gone for a moment (a rename in progress): the next event reads it again
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    /** Stops watching; a {@code SIGHUP} after this does nothing. Idempotent. */
    @Override
    public void close() {
        closed = true;
        if (hangupTarget == this) {
            hangupTarget = null;
        }
        try {
            watch.close();
        } catch (IOException e) {
            log.debug("closing the config watch service: {}", e.toString());
        }
        thread.interrupt();
    }
}
