package io.stellane.server.crash;

import io.stellane.config.RuntimeConfig;
import io.stellane.recovery.RecoveryManager;
import io.stellane.recovery.RecoveryStoreConfig;
import io.stellane.recovery.RecoveryStores;
import io.stellane.recovery.SyncPolicy;
import io.stellane.runtime.Runtime;
import io.stellane.server.Response;
import io.stellane.server.Server;
import io.stellane.task.Task;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.HashSet;
import java.util.Set;

/**
 * The crash test's server, run in a child JVM: {@code CrashApp <store|off> <journalDir> <effectsFile>
 * <replayedFile> [sync] [workers]}. Recovery runs before listen; then it prints {@code RECOVERED found
 * recovered failedAttempts quarantined} and {@code PORT <port>} on stdout and serves until killed.
 * {@code POST /effects} applies an idempotent effect: it appends the request id to the effects log
 * (fsync'd, one line per effect) unless that id is already there, and answers 200 with the id.
 * A live request whose body ends in {@code -slow} prints {@code SLOW <id>} after its effect and answers
 * two seconds later, so the test can kill the process between the effect and the answer.
 * {@code POST /poison} never answers while live, and its replay halts the JVM (exit status 3).
 * Every replay appends its request id to the replayed log first. With store {@code off} recovery is
 * disabled and the effect is skipped, for the benchmark's baseline.
 */
public final class CrashApp {
    private CrashApp() {
    }

    /** An fsync'd append-only log of ids, with the ids already in it. */
    static final class IdLog {
        private final FileChannel channel;
        private final Set<String> ids = new HashSet<>();

        IdLog(Path file) throws IOException {
            if (Files.exists(file)) {
                ids.addAll(Files.readAllLines(file, StandardCharsets.UTF_8));
            }
            channel = FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.WRITE, StandardOpenOption.APPEND);
        }

        /** Appends {@code id} unless present; returns whether it did. */
        synchronized boolean addOnce(String id) throws IOException {
            if (!ids.add(id)) {
                return false;
            }
            append(id);
            return true;
        }

        synchronized void append(String id) throws IOException {
            ByteBuffer b = ByteBuffer.wrap((id + "\n").getBytes(StandardCharsets.UTF_8));
            while (b.hasRemaining()) {
                channel.write(b);
            }
            channel.force(false);
        }
    }

    public static void main(String[] args) throws Exception {
        String store = args[0];
        Path journal = Path.of(args[1]);
        SyncPolicy sync = args.length > 4 ? SyncPolicy.valueOf(args[4]) : SyncPolicy.INTERVAL;
        int workers = args.length > 5 ? Integer.parseInt(args[5]) : 2;
        Runtime.init(RuntimeConfig.builder().backendType("nio").workerThreads(workers).build());
        Server server = new Server();
        RecoveryManager manager = null;
        if (store.equals("off")) {
            server.post("/effects", ctx -> Task.completed(Response.ok(ctx.requestId())));
        } else {
            boolean journalOnly = args[2].equals("-");
            IdLog effects = journalOnly ? null : new IdLog(Path.of(args[2]));
            IdLog replayed = journalOnly ? null : new IdLog(Path.of(args[3]));
            RecoveryStoreConfig storeConfig = RecoveryStoreConfig.defaults(journal).withSegmentSize(8L << 20).withSyncPolicy(sync);
            String pg = System.getenv("STELLANE_TEST_PG_URL");
            if (pg != null) { // the postgres store, when bench/recovery-bench.sh puts stellane-cluster on the class path
                storeConfig = storeConfig.withDatabase(new RecoveryStoreConfig.Database(pg,
                        System.getenv("STELLANE_TEST_PG_USER"), null, "crash-app", java.time.Duration.ofSeconds(10)));
            }
            manager = new RecoveryManager(RecoveryStores.create(store, storeConfig));
            server.enableRequestRecovery(manager)
                    .onRecover((ctx, req, meta) -> Task.blocking(() -> {
                        if (replayed != null) {
                            replayed.append(meta.requestId());
                        }
                        return null;
                    }).flatMap(v -> ctx.retryOriginalHandler()))
                    .post("/effects", ctx -> {
                        if (journalOnly) {
                            return Task.completed(Response.ok(ctx.requestId())); // bench: journal only
                        }
                        return Task.blocking(() -> {
                            effects.addOnce(ctx.requestId());
                            if (ctx.recovery().isEmpty() && ctx.request().bodyString().endsWith("-slow")) {
                                // a request the test kills us in: effect applied, not yet answered
                                System.out.println("SLOW " + ctx.requestId());
                                System.out.flush();
                                Thread.sleep(2_000);
                            }
                            return Response.ok(ctx.requestId());
                        });
                    });
            // a poison request: answered never while live, and its replay halts the JVM
            server.post("/poison", ctx -> {
                if (ctx.recovery().isPresent()) {
                    System.out.println("HALTING " + ctx.requestId());
                    System.out.flush();
                    java.lang.Runtime.getRuntime().halt(3);
                }
                System.out.println("POISON " + ctx.requestId());
                System.out.flush();
                return Task.from(new java.util.concurrent.CompletableFuture<Response>());
            });
            RecoveryManager.RecoveryReport r = server.recover();
            System.out.println("RECOVERED " + r.found() + " " + r.recovered() + " " + r.failedAttempts() + " " + r.quarantined());
        }
        int port = server.listen("127.0.0.1", args.length > 6 ? Integer.parseInt(args[6]) : 0);
        System.out.println("PORT " + port);
        System.out.flush();
        RecoveryManager m = manager;
        java.lang.Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            server.stop();
            if (m != null) {
                m.close();
            }
        }));
        Runtime.start();
    }
}
