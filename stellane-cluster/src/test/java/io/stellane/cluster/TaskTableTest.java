package io.stellane.cluster;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.stream.IntStream;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * The SQL of durable tasks, on a real PostgreSQL with nodes written straight into {@code stellane_node}:
 * whose lease holds, and when, is set by the test, not by a renewal thread.
 */
class TaskTableTest {
    private static final String[] NAMES = {"job"};
    private final TestDatabase db = new TestDatabase();
    private final TaskTable a = new TaskTable("a", 1, "test", null);
    private final TaskTable b = new TaskTable("b", 1, "test", null);
    private Connection c;

    @BeforeEach
    void schema() throws Exception {
        c = db.connect();
        Schema.migrate(c);
        db.exec("""
                INSERT INTO stellane_node (node_id, epoch, lease_until) VALUES
                    ('a', 1, now() + interval '1 hour'), ('b', 1, now() + interval '1 hour')""");
    }

    @AfterEach
    void close() throws Exception {
        c.close();
        db.close();
    }

    private static TaskTable.NewTask task(String id) {
        return new TaskTable.NewTask(id, "job", "default", id.getBytes(StandardCharsets.UTF_8), 3, 0, null);
    }

    private static TaskTable.Outcome done(TaskTable.Claimed t) {
        return new TaskTable.Outcome(t, TaskTable.Kind.DONE, 0, null);
    }

    @Test
    void anIdIsInsertedOnceAndAClaimCountsTheAttempt() throws Exception {
        assertThat(a.insert(c, List.of(task("t1"), task("t1"), task("t2")))).containsExactly(true, false, true);
        assertThat(b.insert(c, List.of(task("t2")))).containsExactly(false);
        List<TaskTable.Claimed> got = a.claim(c, "default", NAMES, 10);
        assertThat(got).extracting(TaskTable.Claimed::id).containsExactlyInAnyOrder("t1", "t2");
        assertThat(got).allSatisfy(t -> assertThat(t.attempt()).isEqualTo(1));
        assertThat(a.claim(c, "default", NAMES, 10)).as("running tasks are not ready").isEmpty();
        assertThat(a.claim(c, "other", NAMES, 10)).isEmpty();
        assertThat(db.column("SELECT owner || ':' || owner_epoch || ':' || state FROM stellane_task"))
                .containsOnly("a:1:1");
    }

    @Test
    void withAKeyPayloadsAreSealedAtRestBoundToTheirIdAndOpenOnClaim() throws Exception {
        String secret = "CARD-4111-1111";
        TaskTable sealed = new TaskTable("a", 1, "test", io.stellane.recovery.testing.TestRequests.KEY);
        sealed.insert(c, List.of(new TaskTable.NewTask("t1", "job", "default", secret.getBytes(StandardCharsets.UTF_8),
                3, 0, null)));
        try (var st = c.createStatement(); var rs = st.executeQuery("SELECT payload, row_to_json(t)::text FROM stellane_task t")) {
            rs.next();
            assertThat(new String(rs.getBytes(1), StandardCharsets.ISO_8859_1)).doesNotContain(secret);
            assertThat(rs.getString(2)).doesNotContain(secret)
                    .doesNotContain(java.util.HexFormat.of().formatHex(secret.getBytes(StandardCharsets.UTF_8)));
        }
        assertThat(sealed.claim(c, "default", NAMES, 10)).singleElement()
                .extracting(TaskTable.Claimed::payloadString).isEqualTo(secret);

        // a payload moved to another task's row does not open: it is bound to its id
        sealed.insert(c, List.of(task("t2")));
        db.exec("UPDATE stellane_task SET payload = (SELECT payload FROM stellane_task WHERE id = 't1'), state = 0"
                + " WHERE id = 't2'");
        assertThatThrownBy(() -> sealed.claim(c, "default", NAMES, 10))
                .isInstanceOf(io.stellane.recovery.RecoveryException.class);
    }

    @Test
    void aClaimTakesOnlyNamesItHasAHandlerFor() throws Exception {
        a.insert(c, List.of(task("t1")));
        assertThat(a.claim(c, "default", new String[] {"other"}, 10)).isEmpty();
        assertThat(a.claim(c, "default", NAMES, 10)).hasSize(1);
    }

    @Test
    void aNodeWhoseLeaseExpiredClaimsNothingAndItsLateOutcomeIsNotWritten() throws Exception {
        a.insert(c, List.of(task("t1"), task("t2")));
        TaskTable.Claimed first = a.claim(c, "default", NAMES, 1).getFirst();
        db.exec("UPDATE stellane_node SET lease_until = now() - interval '1 second' WHERE node_id = 'a'");
        assertThat(a.claim(c, "default", NAMES, 10)).as("a's lease expired").isEmpty();

        assertThat(b.reap(c, 60_000)).containsExactly(1, 0);
        assertThat(db.column("SELECT last_error FROM stellane_task WHERE id = '" + first.id() + "'").getFirst())
                .isEqualTo("node a (epoch 1) stopped while running attempt 1");
        List<TaskTable.Claimed> again = b.claim(c, "default", NAMES, 10);
        TaskTable.Claimed second = again.stream().filter(t -> t.id().equals(first.id())).findFirst().orElseThrow();
        assertThat(second.attempt()).isEqualTo(2);
        assertThat(second.lastError()).contains("node a");

        assertThat(a.finish(c, List.of(done(first)))).as("a's late outcome").containsExactly(false);
        assertThat(b.finish(c, List.of(done(second)))).containsExactly(true);
        assertThat(b.reap(c, 60_000)).as("nothing left to take back").containsExactly(0, 0);
    }

    @Test
    void anEarlierRunsTasksAreTakenBackOnlyOnceTheNameRestartedALeaseAgo() throws Exception {
        a.insert(c, List.of(task("t1")));
        a.claim(c, "default", NAMES, 1);
        db.exec("UPDATE stellane_node SET epoch = 2, started_at = now() WHERE node_id = 'a'");
        assertThat(b.reap(c, 60_000)).as("a restarted just now").containsExactly(0, 0);
        db.exec("UPDATE stellane_node SET started_at = now() - interval '2 minutes' WHERE node_id = 'a'");
        assertThat(b.reap(c, 60_000)).containsExactly(1, 0);
    }

    @Test
    void aTaskTakenBackAfterItsLastAttemptIsQuarantined() throws Exception {
        a.insert(c, List.of(new TaskTable.NewTask("t1", "job", "default", new byte[0], 1, 0, null)));
        a.claim(c, "default", NAMES, 1);
        db.exec("UPDATE stellane_node SET lease_until = now() - interval '1 second' WHERE node_id = 'a'");
        assertThat(b.reap(c, 60_000)).containsExactly(0, 1);
        assertThat(db.column("SELECT state || ':' || owner FROM stellane_task")).containsExactly("3:a");
    }

    @Test
    void outcomesRetryQuarantineAndReleaseAsWritten() throws Exception {
        a.insert(c, List.of(task("retry"), task("quarantine"), task("release")));
        List<TaskTable.Claimed> got = a.claim(c, "default", NAMES, 10);
        List<TaskTable.Outcome> outcomes = new ArrayList<>();
        for (TaskTable.Claimed t : got) {
            outcomes.add(switch (t.id()) {
                case "retry" -> new TaskTable.Outcome(t, TaskTable.Kind.RETRY, 60_000, "java.io.IOException: later");
                case "quarantine" -> new TaskTable.Outcome(t, TaskTable.Kind.QUARANTINE, 0, "x".repeat(5000));
                default -> new TaskTable.Outcome(t, TaskTable.Kind.RELEASE, 0, null);
            });
        }
        assertThat(a.finish(c, outcomes)).containsOnly(true);
        assertThat(db.column("""
                SELECT id || ':' || state || ':' || attempts || ':' || (owner IS NULL) || ':' || (run_after > now() + interval '50 seconds')
                FROM stellane_task ORDER BY id""")).containsExactly("quarantine:3:1:false:false", "release:0:0:true:false",
                "retry:0:1:true:true");
        assertThat(db.number("SELECT length(last_error) FROM stellane_task WHERE id = 'quarantine'")).isEqualTo(2000);
        assertThat(a.claim(c, "default", NAMES, 10)).extracting(TaskTable.Claimed::id).containsExactly("release");
        assertThat(a.countReady(c)).isZero();
    }

    @Test
    void doneTasksArePurgedOnceTheirRetentionPassed() throws Exception {
        a.insert(c, List.of(task("t1"), task("t2")));
        for (TaskTable.Claimed t : a.claim(c, "default", NAMES, 10)) {
            a.finish(c, List.of(done(t)));
        }
        assertThat(a.purge(c, 60_000)).isZero();
        db.exec("UPDATE stellane_task SET finished_at = now() - interval '2 minutes' WHERE id = 't1'");
        assertThat(a.purge(c, 60_000)).isEqualTo(1);
        assertThat(db.column("SELECT id FROM stellane_task")).containsExactly("t2");
    }

    @Test
    void claimsRacingForTheSameRowsNeverTakeOneTwice() throws Exception {
        a.insert(c, IntStream.range(0, 1000).mapToObj(i -> task("t" + i)).toList());
        ExecutorService pool = Executors.newFixedThreadPool(4);
        try {
            List<Future<List<String>>> takers = new ArrayList<>();
            for (TaskTable table : List.of(a, b, a, b)) {
                Callable<List<String>> taker = () -> {
                    List<String> taken = new ArrayList<>();
                    try (Connection own = db.connect()) {
                        for (List<TaskTable.Claimed> got; !(got = table.claim(own, "default", NAMES, 7)).isEmpty(); ) {
                            got.forEach(t -> taken.add(t.id()));
                        }
                    }
                    return taken;
                };
                takers.add(pool.submit(taker));
            }
            List<String> all = new ArrayList<>();
            for (Future<List<String>> f : takers) {
                all.addAll(f.get());
            }
            assertThat(all).hasSize(1000);
            assertThat(new HashSet<>(all)).hasSize(1000);
            assertThat(db.number("SELECT count(*) FROM stellane_task WHERE attempts = 1 AND state = 1")).isEqualTo(1000);
        } finally {
            pool.shutdownNow();
        }
    }
}
