package io.stellane.server;

import io.stellane.recovery.EncryptionKey;
import io.stellane.recovery.HttpHeader;
import io.stellane.recovery.PendingRequest;
import io.stellane.recovery.RecoveryManager;
import io.stellane.recovery.RecoveryStoreConfig;
import io.stellane.recovery.RecoveryStores;
import io.stellane.recovery.testing.TestRequests;
import io.stellane.task.Task;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * What a journaled request leaves in the journal's files, read as raw bytes: the sensitive headers
 * never, the body only without an encryption key; and what a replay after a crash gets back.
 */
class JournalSecretsTest extends ServerTestBase {
    private static final List<String> HEADER_SECRETS =
            List.of("AUTH-SECRET-1", "COOKIE-SECRET-2", "PROXY-SECRET-3", "APIKEY-SECRET-4");
    private static final String BODY_SECRET = "hunter2-SECRET";
    private static final String BODY = "{\"user\":\"ann\",\"password\":\"" + BODY_SECRET + "\"}";

    @TempDir
    Path dir;

    private final List<RecoveryManager> managers = new ArrayList<>();

    @Override
    String backend() {
        return "nio";
    }

    @AfterEach
    void closeManagers() {
        managers.forEach(RecoveryManager::close);
    }

    private RecoveryManager manager(String store, RecoveryStoreConfig config) {
        RecoveryManager m = new RecoveryManager(RecoveryStores.create(store, config));
        managers.add(m);
        return m;
    }

    /** With one sensitive header of the operator's besides the three defaults. */
    private static RecoveryStoreConfig config(Path journal) {
        return RecoveryStoreConfig.defaults(journal).withSegmentSize(1 << 20).withMaxJournalBytes(64L << 20)
                .withSensitiveHeaders(List.of("x-api-key"));
    }

    private static String login(String path) {
        return "POST " + path + " HTTP/1.1\r\nHost: x\r\n"
                + "Authorization: Bearer AUTH-SECRET-1\r\n"
                + "Cookie: session=COOKIE-SECRET-2\r\n"
                + "proxy-authorization: Basic PROXY-SECRET-3\r\n" // any case is the same header
                + "X-Api-Key: APIKEY-SECRET-4\r\n"
                + "Content-Type: application/json\r\nContent-Length: " + BODY.length() + "\r\n\r\n" + BODY;
    }

    /** A login route whose handler records the headers it saw and answers once released. */
    private record Login(List<String> seen, CountDownLatch running, CompletableFuture<Response> release)
            implements Handler {
        Login() {
            this(new CopyOnWriteArrayList<>(), new CountDownLatch(1), new CompletableFuture<>());
        }

        @Override
        public Task<Response> handle(Context ctx) {
            Request r = ctx.request();
            seen.add(r.header("Authorization") + " | " + r.header("Cookie") + " | " + r.header("Proxy-Authorization")
                    + " | " + r.bodyString() + " | replay " + ctx.recovery().isPresent());
            running.countDown();
            return ctx.recovery().isPresent() ? Task.completed(Response.ok("replayed")) : Task.from(release);
        }

        void awaitRunning() throws InterruptedException {
            assertThat(running.await(10, TimeUnit.SECONDS)).as("the handler runs").isTrue();
        }
    }

    private static void assertNoneInFiles(Path journal, List<String> secrets) {
        for (String secret : secrets) {
            assertThat(TestRequests.filesHolding(journal, secret)).as("files holding %s", secret).isEmpty();
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"mmap", "rocksdb"})
    void sensitiveHeadersNeverReachTheJournalWhileTheRequestRunsNorAfter(String store) throws Exception {
        Path journal = dir.resolve(store);
        RecoveryManager m = manager(store, config(journal));
        Login login = new Login();
        int port = start(s -> s.enableRequestRecovery(m).post("/login", login));
        try (RawClient c = new RawClient(port)) {
            c.send(login("/login"));
            login.awaitRunning();
            assertThat(login.seen()).containsExactly("Bearer AUTH-SECRET-1 | session=COOKIE-SECRET-2 | Basic PROXY-SECRET-3"
                    + " | " + BODY + " | replay false");
            PendingRequest pending = m.store().pending().getFirst();
            assertThat(pending.request().headers()).extracting(HttpHeader::name)
                    .contains("Host", "Content-Type")
                    .doesNotContain("Authorization", "Cookie", "proxy-authorization", "X-Api-Key");
            assertNoneInFiles(journal, HEADER_SECRETS);
            assertThat(TestRequests.filesHold(journal, BODY_SECRET)).as("without a key the body is stored as it came")
                    .isTrue();

            login.release().complete(Response.ok("welcome"));
            assertThat(c.read().status()).isEqualTo(200);
        }
        assertThat(m.store().pending()).isEmpty();
        assertNoneInFiles(journal, HEADER_SECRETS);
        lastServer().stop();
        managers.remove(m);
        m.close(); // a clean shutdown
        assertNoneInFiles(journal, HEADER_SECRETS);
        assertNoneInFiles(journal, List.of(BODY_SECRET)); // the completed request is gone from the files
    }

    @ParameterizedTest
    @ValueSource(strings = {"mmap", "rocksdb"})
    void withAKeyNoSecretIsInTheFilesAndAReplayAfterACrashGetsTheBodyAndTheOptedInHeader(String store)
            throws Exception {
        Path journal = dir.resolve(store);
        RecoveryStoreConfig cfg = config(journal).withEncryptionKey(TestRequests.KEY);
        RecoveryManager m = manager(store, cfg);
        Login login = new Login();
        Login webhook = new Login();
        int port = start(s -> s.enableRequestRecovery(m)
                .post("/login", login)
                .post("/hooks/{name}", webhook)
                .journalSensitiveHeaders("POST", "/hooks/{name}", "AUTHORIZATION"));
        Path crashed = dir.resolve(store + "-after-kill");
        try (RawClient a = new RawClient(port); RawClient b = new RawClient(port)) {
            a.send(login("/login"));
            b.send(login("/hooks/github"));
            login.awaitRunning();
            webhook.awaitRunning();
            assertThat(m.store().pending()).hasSize(2);
            List<String> all = new ArrayList<>(HEADER_SECRETS);
            all.add(BODY_SECRET);
            assertNoneInFiles(journal, all); // the kept Authorization is encrypted like the body
            TestRequests.crashCopy(journal, crashed); // what a kill -9 now would leave

            login.release().complete(Response.ok("welcome"));
            webhook.release().complete(Response.ok("hooked"));
            assertThat(a.read().status()).isEqualTo(200);
            assertThat(b.read().status()).isEqualTo(200);
            assertNoneInFiles(journal, all);
        }

        // the next process: both requests were pending when it died
        Login replayedLogin = new Login();
        Login replayedWebhook = new Login();
        RecoveryManager after = manager(store, cfg.withPath(crashed));
        start(s -> s.enableRequestRecovery(after)
                .post("/login", replayedLogin)
                .post("/hooks/{name}", replayedWebhook)
                .journalSensitiveHeaders("POST", "/hooks/{name}", "Authorization"));
        assertThat(lastServer().recover().recovered()).isEqualTo(2);
        assertThat(replayedLogin.seen()).containsExactly("null | null | null | " + BODY + " | replay true");
        assertThat(replayedWebhook.seen()).containsExactly("Bearer AUTH-SECRET-1 | null | null | " + BODY
                + " | replay true");
    }
}
