package io.stellane.testing;

import java.lang.annotation.Documented;
import java.lang.annotation.ElementType;
import java.lang.annotation.Retention;
import java.lang.annotation.RetentionPolicy;
import java.lang.annotation.Target;

/**
 * Marks the method of a {@link ServerTest} class that sets its server up. It is static (or an
 * instance method under {@code @TestInstance(PER_CLASS)}), may have any name, and has one of these
 * shapes:
 * <ul>
 * <li>{@code void routes(Server server)}: registers routes, filters, error mappers or a JSON mapper
 * on a server the extension made ({@code new Server(runtime, ServerConfig.defaults())} on the
 * class's runtime);
 * <li>{@code Server server(StellaneRuntime runtime)}: builds the server itself, with a
 * {@code ServerConfig} of its own, on the class's runtime (not yet initialized when the method runs:
 * the extension initializes it next);
 * <li>{@code Server server()}: builds the server itself on any runtime, e.g. {@code new Server()} on
 * the static one.
 * </ul>
 * The extension starts the server after the method returns; the method must not call
 * {@code listen}. A class declares at most one; a subclass's hides its superclass's.
 */
@Target(ElementType.METHOD)
@Retention(RetentionPolicy.RUNTIME)
@Documented
public @interface SetUpServer {
}
