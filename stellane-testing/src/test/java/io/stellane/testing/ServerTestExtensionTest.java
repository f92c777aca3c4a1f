package io.stellane.testing;

import io.stellane.config.RuntimeConfig;
import io.stellane.runtime.Runtime;
import io.stellane.runtime.StellaneRuntime;
import io.stellane.server.Response;
import io.stellane.server.Server;
import io.stellane.server.ServerConfig;
import io.stellane.task.Task;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Nested;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.extension.ConditionEvaluationResult;
import org.junit.jupiter.api.extension.ExecutionCondition;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.extension.ExtensionContext;
import org.junit.platform.launcher.core.LauncherDiscoveryRequestBuilder;
import org.junit.platform.launcher.core.LauncherFactory;
import org.junit.platform.launcher.listeners.SummaryGeneratingListener;
import org.junit.platform.launcher.listeners.TestExecutionSummary;

import java.io.IOException;
import java.lang.annotation.ElementType;
import java.lang.annotation.Retention;
import java.lang.annotation.RetentionPolicy;
import java.lang.annotation.Target;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.platform.engine.discovery.DiscoverySelectors.selectClass;

/**
 * {@link ServerTest}'s lifecycle, seen from outside: each sample class below runs in a launcher of
 * its own, records what it was given, and the test checks what is left once the class is done.
 * (The samples are static nested classes, which the build's test run does not pick up by itself.)
 */
class ServerTestExtensionTest {

    /** What the samples saw, in order. */
    static final List<Object> seen = new CopyOnWriteArrayList<>();
    /** What the samples saw, by who saw it. */
    static final Map<String, Object> seenBy = new ConcurrentHashMap<>();

    @BeforeEach
    @AfterEach
    void forget() {
        seen.clear();
        seenBy.clear();
    }

    private static TestExecutionSummary run(Class<?> sample) {
        SummaryGeneratingListener listener = new SummaryGeneratingListener();
        LauncherFactory.create().execute(LauncherDiscoveryRequestBuilder.request().selectors(selectClass(sample))
                .configurationParameter(Sample.LAUNCHED, "true").build(), listener);
        return listener.getSummary();
    }

    /**
     * The samples run only in this test's launcher: a build that selects every class of the package
     * ({@code -Dtest='io.stellane.testing.**'}) would otherwise run them on their own, the broken ones
     * included, and count their failures as its own.
     */
    @Target(ElementType.TYPE)
    @Retention(RetentionPolicy.RUNTIME)
    @ExtendWith(Sample.OnlyWhenLaunched.class)
    @interface Sample {
        String LAUNCHED = "stellane.testing.samples";

        final class OnlyWhenLaunched implements ExecutionCondition {
            @Override
            public ConditionEvaluationResult evaluateExecutionCondition(ExtensionContext context) {
                return context.getConfigurationParameter(LAUNCHED).isPresent() ? ConditionEvaluationResult.enabled("launched")
                        : ConditionEvaluationResult.disabled("a sample that ServerTestExtensionTest runs in a launcher of its own");
            }
        }
    }

    private static String failures(TestExecutionSummary s) {
        StringBuilder sb = new StringBuilder();
        s.getFailures().forEach(f -> sb.append(f.getTestIdentifier().getDisplayName()).append(": ").append(f.getException()).append('\n'));
        return sb.toString();
    }

    private static boolean portIsFree(int port) {
        try (ServerSocket s = new ServerSocket(port, 1, InetAddress.getLoopbackAddress())) {
            return s.getLocalPort() == port;
        } catch (IOException e) {
            return false;
        }
    }

    // ---------------------------------------------------------------- samples

    @Sample
    @ServerTest(backend = "nio", workers = 1)
    static class Basic {
        private final TestClient constructed;

        Basic(TestClient client) {
            this.constructed = client;
        }

        @SetUpServer
        static void routes(Server server) {
            server.get("/hello", ctx -> Task.completed(Response.text("hello from " + Thread.currentThread().getName())));
        }

        @Test
        void getsTheClientTheServerAndTheRuntime(TestClient client, Server server, StellaneRuntime runtime) {
            seenBy.putAll(Map.of("client", client, "server", server, "runtime", runtime));
            assertThat(constructed).isSameAs(client);
            assertThat(server.runtime()).isSameAs(runtime);
            assertThat(runtime.isRunning()).isTrue();
            assertThat(runtime.getConfig().backendType()).isEqualTo("nio");
            assertThat(runtime.getConfig().workerThreads()).isEqualTo(1);
            assertThat(client.port()).isEqualTo(server.port());
            assertThat(client.get("/hello").body()).isEqualTo("hello from Basic-worker-0");
        }

        @Test
        void everyTestOfTheClassSharesTheServer(Server server) {
            seenBy.put("other test", server);
        }
    }

    @Test
    void aClassGetsARuntimeAndAServerOfItsOwnAndLeavesNothingRunning() {
        TestExecutionSummary s = run(Basic.class);
        assertThat(s.getTestsSucceededCount()).as(failures(s)).isEqualTo(2);
        TestClient client = (TestClient) seenBy.get("client");
        Server server = (Server) seenBy.get("server");
        StellaneRuntime runtime = (StellaneRuntime) seenBy.get("runtime");
        assertThat(seenBy.get("other test")).isSameAs(server);
        assertThat(server.isListening()).isFalse();
        assertThat(server.openConnections()).isZero();
        assertThat(runtime.isRunning()).isFalse();
        assertThat(runtime.liveWorkers()).as("worker threads ended").isZero();
        assertThat(runtime).isNotSameAs(Runtime.instance());
        assertThat(Runtime.isRunning()).as("the static runtime was never started").isFalse();
        assertThat(client.isClosed()).isTrue();
        assertThat(portIsFree(client.port())).as("port %d released", client.port()).isTrue();
    }

    @Sample
    @ServerTest(backend = "nio")
    static class OnTheStaticRuntime {
        @SetUpServer
        static Server server() {
            return new Server().get("/who", ctx -> Task.completed(Response.text(Thread.currentThread().getName())));
        }

        @Test
        void runsOnTheStaticRuntime(TestClient client, Server server) {
            seen.add(server);
            assertThat(server.runtime()).isSameAs(Runtime.instance());
            assertThat(Runtime.isRunning()).isTrue();
            assertThat(client.get("/who").body()).startsWith("stellane-worker-");
        }
    }

    @Test
    void theStaticRuntimeTheKitStartedIsStoppedAfterTheClass() {
        TestExecutionSummary s = run(OnTheStaticRuntime.class);
        assertThat(s.getTestsSucceededCount()).as(failures(s)).isEqualTo(1);
        assertThat(((Server) seen.getFirst()).isListening()).isFalse();
        assertThat(Runtime.isRunning()).isFalse();
        assertThat(Runtime.liveWorkers()).isZero();
    }

    static final StellaneRuntime ALREADY_RUNNING = StellaneRuntime.create("already-running");

    @Sample
    @ServerTest
    static class OnARunningRuntime {
        @SetUpServer
        static Server server() {
            return new Server(ALREADY_RUNNING, ServerConfig.defaults()).get("/ok", ctx -> Task.completed(Response.text("ok")));
        }

        @Test
        void serves(TestClient client, Server server) {
            seen.add(server);
            assertThat(client.get("/ok").body()).isEqualTo("ok");
        }
    }

    @Test
    void aRuntimeThatWasRunningBeforeIsLeftRunning() {
        ALREADY_RUNNING.init(RuntimeConfig.builder().backendType("nio").workerThreads(1).shutdownTimeout(Duration.ofSeconds(5)).build());
        try {
            TestExecutionSummary s = run(OnARunningRuntime.class);
            assertThat(s.getTestsSucceededCount()).as(failures(s)).isEqualTo(1);
            assertThat(((Server) seen.getFirst()).isListening()).isFalse();
            assertThat(ALREADY_RUNNING.isRunning()).isTrue();
        } finally {
            ALREADY_RUNNING.stop();
        }
    }

    @Sample
    @ServerTest(backend = "nio")
    static class WithItsOwnConfig {
        @SetUpServer
        static Server server(StellaneRuntime runtime) {
            seen.add(runtime);
            return new Server(runtime, ServerConfig.builder().maxBodySize(4).build())
                    .post("/echo", ctx -> Task.completed(Response.text(ctx.request().bodyString())));
        }

        @Test
        void keepsItsLimits(TestClient client, StellaneRuntime runtime) {
            seen.add(runtime);
            assertThat(client.post("/echo", "four").body()).isEqualTo("four");
            assertThat(client.post("/echo", "five!").status()).isEqualTo(413);
        }
    }

    @Test
    void aSetUpMethodMayBuildTheServerOnTheClassesRuntime() {
        TestExecutionSummary s = run(WithItsOwnConfig.class);
        assertThat(s.getTestsSucceededCount()).as(failures(s)).isEqualTo(1);
        assertThat(seen.get(0)).isSameAs(seen.get(1));
        assertThat(((StellaneRuntime) seen.get(0)).isRunning()).isFalse();
    }

    @Sample
    @ServerTest(backend = "nio")
    static class WithNestedClasses {
        @SetUpServer
        static void routes(Server server) {
            server.get("/where", ctx -> Task.completed(Response.text("outer")));
        }

        @Test
        void outer(Server server) {
            seenBy.put("outer", server);
        }

        @Nested
        class Sharing {
            @Test
            void sharesTheOuterServer(Server server, TestClient client) {
                seenBy.put("sharing", server);
                assertThat(client.get("/where").body()).isEqualTo("outer");
            }
        }

        @Nested
        @TestInstance(TestInstance.Lifecycle.PER_CLASS)
        class WithItsOwn {
            @SetUpServer
            void routes(Server server) {
                server.get("/where", ctx -> Task.completed(Response.text("inner")));
            }

            @Test
            void getsItsOwnServer(Server server, TestClient client) {
                seenBy.put("own", server);
                assertThat(client.get("/where").body()).isEqualTo("inner");
            }
        }
    }

    @Test
    void aNestedClassSharesTheServerUnlessItSetsUpItsOwn() {
        TestExecutionSummary s = run(WithNestedClasses.class);
        assertThat(s.getTestsSucceededCount()).as(failures(s)).isEqualTo(3);
        assertThat(seenBy.get("sharing")).isSameAs(seenBy.get("outer"));
        assertThat(seenBy.get("own")).isNotSameAs(seenBy.get("outer"));
        assertThat(seenBy.values()).allSatisfy(server -> assertThat(((Server) server).isListening()).isFalse());
        assertThat(((Server) seenBy.get("own")).runtime().isRunning()).isFalse();
    }

    @Sample
    @ServerTest
    static class WithAnInstanceSetUp {
        @SetUpServer
        void routes(Server server) {
        }

        @Test
        void neverRuns() {
            seen.add("ran");
        }
    }

    @Sample
    @ServerTest
    static class WithTwoSetUps {
        @SetUpServer
        static void one(Server server) {
        }

        @SetUpServer
        static void two(Server server) {
        }

        @Test
        void neverRuns() {
            seen.add("ran");
        }
    }

    @Sample
    @ServerTest
    static class WithAWrongShape {
        @SetUpServer
        static void routes(String nonsense) {
        }

        @Test
        void neverRuns() {
            seen.add("ran");
        }
    }

    @Sample
    @ServerTest(backend = "nio")
    static class WithASetUpThatThrows {
        @SetUpServer
        static Server server(StellaneRuntime runtime) {
            seen.add(runtime);
            throw new IllegalStateException("no database");
        }

        @Test
        void neverRuns() {
            seen.add("ran");
        }
    }

    @Sample
    @ServerTest(backend = "nio", workers = 0)
    static class WithNoWorkers {
        @Test
        void neverRuns() {
            seen.add("ran");
        }
    }

    @Test
    void aBrokenSetUpFailsTheClassSayingWhatIsWrong() {
        assertThat(failures(run(WithNoWorkers.class))).contains("worker_threads", "0");
        assertThat(failures(run(WithAnInstanceSetUp.class))).contains("must be static");
        assertThat(failures(run(WithTwoSetUps.class))).contains("2 @SetUpServer methods [");
        assertThat(failures(run(WithAWrongShape.class))).contains("has the wrong shape", "static void m(Server server)");
        assertThat(seen).isEmpty();

        assertThat(failures(run(WithASetUpThatThrows.class))).contains("no database");
        assertThat(seen).singleElement().satisfies(rt -> assertThat(((StellaneRuntime) rt).isRunning()).isFalse());
    }
}
