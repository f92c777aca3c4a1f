package io.stellane.testing;

import org.junit.jupiter.api.extension.ExtendWith;

import java.lang.annotation.Documented;
import java.lang.annotation.ElementType;
import java.lang.annotation.Inherited;
import java.lang.annotation.Retention;
import java.lang.annotation.RetentionPolicy;
import java.lang.annotation.Target;

/**
 * A test class with a running server: before its first test a runtime starts, the class's
 * {@link SetUpServer} method registers the routes, and the server listens on {@code 127.0.0.1},
 * port 0; after its last test the client, the server and the runtime are stopped, and the port and
 * the worker threads are released.
 *
 * <pre>{@code
 * @ServerTest
 * class UsersTest {
 *     @SetUpServer
 *     static void routes(Server server) {
 *         server.get("/users/{id}", ctx -> Task.completed(Response.json(new User(ctx.paramInt("id"), "ann"))));
 *     }
 *
 *     @Test
 *     void findsAUser(TestClient client) {
 *         TestResponse r = client.get("/users/7");
 *         assertThat(r.status()).isEqualTo(200);
 *         assertThat(r.json(User.class).name()).isEqualTo("ann");
 *     }
 * }
 * }</pre>
 *
 * <h2>What a test can ask for</h2>
 * Test methods, constructors and lifecycle methods ({@code @BeforeEach}, ...) may declare parameters
 * of these types, and get the class's:
 * <ul>
 * <li>{@link TestClient}: HTTP/1.1 requests to the server's port, JSON through the server's mapper;
 * <li>{@link io.stellane.server.Server Server}: its counters ({@code errorCount()}), its port;
 * <li>{@link io.stellane.runtime.StellaneRuntime StellaneRuntime}: the runtime the server runs on,
 * say to start a second server on it.
 * </ul>
 *
 * <h2>The runtime</h2>
 * Each class gets a runtime of its own ({@code StellaneRuntime.create}, named after the class), with
 * {@link #backend()} and {@link #workers()}; the static {@code Runtime} is not touched, so classes
 * may run in parallel. A {@code @SetUpServer} method that builds its own server may put it on
 * another runtime, the static one included ({@code new Server()}): the extension initializes that
 * runtime if it is not running, and then stops it after the class; a runtime that was already
 * running is left running.
 *
 * <h2>Nested classes and suites</h2>
 * A {@code @Nested} class shares its enclosing class's server unless it declares a
 * {@code @SetUpServer} method of its own. The annotation is inherited: an abstract suite may hold
 * the {@code @SetUpServer} method and the tests, and each subclass name a backend
 * ({@code @ServerTest(backend = "epoll") class EpollUsersTest extends UsersSuite {}}).
 */
@Target(ElementType.TYPE)
@Retention(RetentionPolicy.RUNTIME)
@Documented
@Inherited
@ExtendWith(ServerTestExtension.class)
@SuppressWarnings("exports") // the extension stays package-private: JUnit reaches it through the module's opens
public @interface ServerTest {

    /** The runtime's backend: {@code auto} (io_uring, else epoll, else nio), {@code nio}, {@code epoll} or {@code io_uring}. */
    String backend() default "auto";

    /** The runtime's worker threads. */
    int workers() default 2;
}
