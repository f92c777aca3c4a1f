package io.stellane.examples.users;

import io.stellane.task.Task;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.Callable;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * What every {@link UserRepository} database must do. A subclass supplies an empty database per test.
 */
abstract class UserRepositoryContractTest {
    private static final int THREADS = 8;

    private final List<UserRepository> opened = new ArrayList<>();
    protected UserRepository repo;

    /** A config for this test's database, with the given pool size; the same database on every call. */
    protected abstract DatabaseConfig config(int poolSize);

    /** Makes this test's database empty (no users table) before the first repository opens it. */
    protected abstract void resetDatabase() throws Exception;

    protected abstract Dialect expectedDialect();

    @BeforeEach
    void openRepository() throws Exception {
        resetDatabase();
        repo = open(4);
    }

    @AfterEach
    void closeRepositories() {
        opened.forEach(UserRepository::close);
    }

    protected UserRepository open(int poolSize) {
        UserRepository r = new UserRepository(config(poolSize));
        opened.add(r);
        return r;
    }

    @Test
    void usesTheDialectOfTheUrl() {
        assertThat(repo.dialect()).isEqualTo(expectedDialect());
    }

    @Test
    void createStoresTheUserAndFindReadsItBack() {
        Instant before = Instant.now().truncatedTo(ChronoUnit.MICROS);
        User created = repo.create(new NewUser("Ada Lovelace", "ada@example.com"), "key-1");
        Instant after = Instant.now();

        assertThat(created.id()).isPositive();
        assertThat(created.name()).isEqualTo("Ada Lovelace");
        assertThat(created.email()).isEqualTo("ada@example.com");
        assertThat(created.createdAt()).isBetween(before, after);
        assertThat(repo.find(created.id())).contains(created);
    }

    @Test
    void findOfAnUnknownIdIsEmpty() {
        User u = repo.create(new NewUser("Bob", "bob@example.com"), null);
        assertThat(repo.find(u.id() + 1)).isEmpty();
        assertThat(repo.find(-1)).isEmpty();
    }

    @Test
    void listPagesThroughUsersInIdOrder() {
        List<User> created = new ArrayList<>();
        for (int i = 0; i < 7; i++) {
            created.add(repo.create(new NewUser("user " + i, "u" + i + "@example.com"), "page-" + i));
        }
        assertThat(created).extracting(User::id).isSorted().doesNotHaveDuplicates();

        assertThat(repo.list(3, 0)).containsExactlyElementsOf(created.subList(0, 3));
        assertThat(repo.list(3, 3)).containsExactlyElementsOf(created.subList(3, 6));
        assertThat(repo.list(3, 6)).containsExactly(created.get(6));
        assertThat(repo.list(3, 7)).isEmpty();
        assertThat(repo.list(1000, 0)).containsExactlyElementsOf(created);
        assertThat(repo.list(1, 2)).containsExactly(created.get(2));
    }

    @Test
    void listRejectsALimitOutside1To1000AndANegativeOffset() {
        assertThatThrownBy(() -> repo.list(0, 0)).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("limit must be 1..1000, got 0");
        assertThatThrownBy(() -> repo.list(1001, 0)).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("got 1001");
        assertThatThrownBy(() -> repo.list(-5, 0)).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> repo.list(10, -1)).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("offset must be >= 0, got -1");
    }

    @Test
    void countFollowsCreates() {
        assertThat(repo.count()).isZero();
        repo.create(new NewUser("one", "one@example.com"), "c1");
        assertThat(repo.count()).isEqualTo(1);
        repo.create(new NewUser("two", "two@example.com"), "c2");
        repo.create(new NewUser("two again", "two@example.com"), "c2"); // replay: no new row
        assertThat(repo.count()).isEqualTo(2);
    }

    @Test
    void anInvalidBodyIsRejectedNamingTheFieldAndNothingIsWritten() {
        assertThatThrownBy(() -> repo.create(new NewUser("  ", "x@example.com"), "v1"))
                .isInstanceOfSatisfying(ValidationException.class,
                        e -> assertThat(e.error()).isEqualTo(new FieldError("name", "must not be blank")));
        assertThatThrownBy(() -> repo.create(new NewUser("Eve", "not-an-email"), "v2"))
                .isInstanceOfSatisfying(ValidationException.class,
                        e -> assertThat(e.error().field()).isEqualTo("email"));
        assertThatThrownBy(() -> repo.create(new NewUser("Eve", "eve@example.com"), "bad key"))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("printable ASCII");
        assertThatThrownBy(() -> repo.create(new NewUser("Eve", "eve@example.com"), ""))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("1..255");
        assertThatThrownBy(() -> repo.create(new NewUser("Eve", "eve@example.com"), "k".repeat(256)))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("got 256");
        assertThat(repo.count()).isZero();
        // the longest allowed key is stored whole
        User u = repo.create(new NewUser("Eve", "eve@example.com"), "k".repeat(255));
        assertThat(repo.create(new NewUser("Other", "o@example.com"), "k".repeat(255))).isEqualTo(u);
    }

    @Test
    void aSecondCreateWithTheSameKeyReturnsTheOriginalUser() {
        User first = repo.create(new NewUser("Grace Hopper", "grace@example.com"), "replayed-request");
        User again = repo.create(new NewUser("Grace Hopper", "grace@example.com"), "replayed-request");
        User differentBody = repo.create(new NewUser("Someone Else", "else@example.com"), "replayed-request");

        assertThat(again).isEqualTo(first);
        assertThat(differentBody).isEqualTo(first);
        assertThat(repo.count()).isEqualTo(1);
        assertThat(repo.list(10, 0)).containsExactly(first);
    }

    @Test
    void withoutAKeyEveryCreateInserts() {
        User a = repo.create(new NewUser("Same", "same@example.com"), null);
        User b = repo.create(new NewUser("Same", "same@example.com"), null);
        assertThat(a.id()).isNotEqualTo(b.id());
        assertThat(repo.count()).isEqualTo(2);
    }

    @Test
    void concurrentCreatesWithOneKeyInsertOneRowAndAllGetIt() throws Exception {
        UserRepository wide = open(THREADS); // a connection per thread, so the inserts really race
        int rounds = 25;
        ExecutorService pool = Executors.newFixedThreadPool(THREADS);
        try {
            for (int round = 0; round < rounds; round++) {
                String key = "race-" + round;
                CyclicBarrier start = new CyclicBarrier(THREADS);
                List<Future<User>> results = new ArrayList<>();
                for (int t = 0; t < THREADS; t++) {
                    NewUser body = new NewUser("racer " + round + "/" + t, "racer" + t + "@example.com");
                    results.add(pool.submit(() -> {
                        start.await(30, TimeUnit.SECONDS);
                        return wide.create(body, key);
                    }));
                }
                Set<User> distinct = new HashSet<>();
                for (Future<User> f : results) {
                    distinct.add(f.get(60, TimeUnit.SECONDS));
                }
                assertThat(distinct).as("round %d: every caller gets the one user", round).hasSize(1);
                assertThat(wide.find(distinct.iterator().next().id())).contains(distinct.iterator().next());
            }
        } finally {
            pool.shutdownNow();
        }
        assertThat(wide.count()).isEqualTo(rounds);
    }

    @Test
    void concurrentCreatesWithDistinctKeysInsertDistinctUsers() throws Exception {
        int perThread = 20;
        ExecutorService pool = Executors.newFixedThreadPool(THREADS);
        List<Future<List<User>>> results = new ArrayList<>();
        try {
            CyclicBarrier start = new CyclicBarrier(THREADS);
            for (int t = 0; t < THREADS; t++) {
                int thread = t;
                Callable<List<User>> job = () -> {
                    start.await(30, TimeUnit.SECONDS);
                    List<User> mine = new ArrayList<>();
                    for (int i = 0; i < perThread; i++) {
                        mine.add(repo.create(new NewUser("t" + thread + " #" + i, "t" + thread + "@example.com"),
                                "distinct-" + thread + "-" + i));
                    }
                    return mine;
                };
                results.add(pool.submit(job));
            }
            Set<Long> ids = new HashSet<>();
            for (Future<List<User>> f : results) {
                f.get(60, TimeUnit.SECONDS).forEach(u -> ids.add(u.id()));
            }
            assertThat(ids).hasSize(THREADS * perThread);
        } finally {
            pool.shutdownNow();
        }
        assertThat(repo.count()).isEqualTo(THREADS * perThread);
        assertThat(repo.list(1000, 0)).hasSize(THREADS * perThread).extracting(User::id).isSorted();
    }

    @Test
    void unicodeNamesRoundTripUnchanged() {
        List<String> names = List.of(
                "Zoë Åström-Ñúñez",
                "山田 太郎",
                "Дмитрий Шостакович",
                "محمد عبد الله",
                "e\u0301 combining accent",
                "Rocket 🚀 and 👩‍💻",
                "🎉".repeat(NewUser.MAX_NAME_LENGTH)); // the longest name: 100 code points, 200 UTF-16 units
        for (int i = 0; i < names.size(); i++) {
            User u = repo.create(new NewUser(names.get(i), "intl" + i + "@example.com"), "intl-" + i);
            assertThat(u.name()).isEqualTo(names.get(i));
            assertThat(repo.find(u.id())).map(User::name).contains(names.get(i));
        }
        assertThat(repo.list(100, 0)).extracting(User::name).containsExactlyElementsOf(names);
    }

    @Test
    void usersAndKeysSurviveReopeningTheDatabase() {
        User before = repo.create(new NewUser("Persistent", "p@example.com"), "persist-1");
        repo.close();

        UserRepository reopened = open(2); // the schema already exists: CREATE TABLE IF NOT EXISTS is a no-op
        assertThat(reopened.find(before.id())).contains(before);
        assertThat(reopened.create(new NewUser("Replay", "r@example.com"), "persist-1")).isEqualTo(before);
        User next = reopened.create(new NewUser("Next", "n@example.com"), "persist-2");
        assertThat(next.id()).isGreaterThan(before.id());
        assertThat(reopened.count()).isEqualTo(2);
    }

    @Test
    void concurrentStartupsOnAnEmptyDatabaseAllSucceed() throws Exception {
        resetDatabase(); // no table again, while repo stays open
        ExecutorService pool = Executors.newFixedThreadPool(4);
        try {
            CyclicBarrier start = new CyclicBarrier(4);
            List<Future<UserRepository>> starts = new ArrayList<>();
            for (int i = 0; i < 4; i++) {
                starts.add(pool.submit(() -> {
                    start.await(30, TimeUnit.SECONDS);
                    return new UserRepository(config(1));
                }));
            }
            for (Future<UserRepository> f : starts) {
                opened.add(f.get(60, TimeUnit.SECONDS));
            }
        } finally {
            pool.shutdownNow();
        }
        assertThat(opened.getLast().count()).isZero();
    }

    @Test
    void aClosedRepositoryRefusesCalls() {
        repo.close();
        repo.close(); // idempotent
        assertThatThrownBy(() -> repo.count()).isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("closed");
    }

    @Test
    void serviceTasksAreLazyAndDeliverTheRepositoryResults() {
        UserService service = new UserService(repo);

        Task<User> create = service.create(new NewUser("Lazy", "lazy@example.com"), "task-1");
        assertThat(repo.count()).as("nothing runs before the task starts").isZero();
        User created = create.await();
        assertThat(repo.count()).isEqualTo(1);

        assertThat(service.create(new NewUser("Lazy", "lazy@example.com"), "task-1").await()).isEqualTo(created);
        assertThat(service.find(created.id()).await()).contains(created);
        assertThat(service.find(created.id() + 100).await()).isEqualTo(Optional.empty());
        assertThat(service.list(10, 0).await()).containsExactly(created);
        assertThat(service.count().await()).isEqualTo(1L);
    }

    @Test
    void serviceFailsInvalidArgumentsAtOnce() {
        UserService service = new UserService(repo);

        Task<User> invalid = service.create(new NewUser("", "x@example.com"), "k");
        assertThat(invalid.isFailed()).isTrue();
        assertThat(invalid.exceptionNow()).isInstanceOfSatisfying(ValidationException.class,
                e -> assertThat(e.error().field()).isEqualTo("name"));
        assertThat(service.create(new NewUser("Ok", "ok@example.com"), "with space").isFailed()).isTrue();
        assertThat(service.list(0, 0).exceptionNow()).isInstanceOf(IllegalArgumentException.class);
        assertThat(service.list(10, -1).isFailed()).isTrue();
        assertThat(repo.count()).isZero();
    }
}
