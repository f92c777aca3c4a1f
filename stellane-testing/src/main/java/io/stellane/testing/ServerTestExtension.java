package io.stellane.testing;

import io.stellane.runtime.StellaneRuntime;
import io.stellane.server.Server;
import io.stellane.server.ServerConfig;
import org.junit.jupiter.api.extension.AfterAllCallback;
import org.junit.jupiter.api.extension.BeforeAllCallback;
import org.junit.jupiter.api.extension.ExtensionConfigurationException;
import org.junit.jupiter.api.extension.ExtensionContext;
import org.junit.jupiter.api.extension.ParameterContext;
import org.junit.jupiter.api.extension.ParameterResolutionException;
import org.junit.jupiter.api.extension.ParameterResolver;
import org.junit.platform.commons.support.AnnotationSupport;
import org.junit.platform.commons.support.HierarchyTraversalMode;
import org.junit.platform.commons.support.ReflectionSupport;

import java.lang.reflect.Method;
import java.lang.reflect.Modifier;
import java.util.Arrays;
import java.util.List;
import java.util.Optional;

/**
 * What {@link ServerTest} does: starts the class's server before its tests ({@link ServerFixture}),
 * resolves the parameters it offers, and stops everything after the class.
 *
 * <h2>How it works</h2>
 * {@link #beforeAll} finds the class's {@link SetUpServer} method (the closest declaring class in
 * its hierarchy wins), calls it, starts the server and keeps the fixture in the class's store under
 * the class's unique id. A {@code @Nested} class without a method of its own starts nothing: the
 * parameters of its tests are resolved from the nearest enclosing class that has a fixture.
 * {@link #afterAll} stops only the fixture its own class started.
 */
final class ServerTestExtension implements BeforeAllCallback, AfterAllCallback, ParameterResolver {
    private static final ExtensionContext.Namespace NAMESPACE = ExtensionContext.Namespace.create(ServerTestExtension.class);
    private static final List<Class<?>> OFFERED = List.of(TestClient.class, Server.class, StellaneRuntime.class);

    @Override
    public void beforeAll(ExtensionContext context) {
        Class<?> testClass = context.getRequiredTestClass();
        Optional<Method> setUp = setUpMethod(testClass);
        if (setUp.isEmpty() && find(context).isPresent()) {
            return; // a nested class: its enclosing class's server serves it
        }
        ServerTest config = annotation(testClass); // a bad backend or worker count fails the runtime's validation
        StellaneRuntime runtime = StellaneRuntime.create(testClass.getSimpleName().isBlank() ? "server-test" : testClass.getSimpleName());
        Server server = setUp.isEmpty() ? new Server(runtime, ServerConfig.defaults())
                : callSetUp(setUp.get(), context.getTestInstance().orElse(null), runtime);
        ServerFixture fixture = ServerFixture.start(server, ServerFixture.runtimeConfig(config.backend(), config.workers()));
        context.getStore(NAMESPACE).put(context.getUniqueId(), fixture);
    }

    @Override
    public void afterAll(ExtensionContext context) {
        ServerFixture own = context.getStore(NAMESPACE).remove(context.getUniqueId(), ServerFixture.class);
        if (own != null) {
            own.stop();
        }
    }

    @Override
    public boolean supportsParameter(ParameterContext parameter, ExtensionContext context) {
        return OFFERED.contains(parameter.getParameter().getType());
    }

    @Override
    public Object resolveParameter(ParameterContext parameter, ExtensionContext context) {
        ServerFixture f = find(context).orElseThrow(() -> new ParameterResolutionException(
                "no server is running yet for " + parameter.getDeclaringExecutable() + ": under @TestInstance(PER_CLASS)"
                        + " the constructor runs before the server starts; take the parameter in a test or @BeforeAll method"));
        Class<?> type = parameter.getParameter().getType();
        if (type == TestClient.class) {
            return f.client;
        }
        return type == Server.class ? f.server : f.server.runtime();
    }

    /** The {@code @ServerTest} of the class, its superclasses or, for a nested class, its enclosing classes. */
    private static ServerTest annotation(Class<?> testClass) {
        for (Class<?> c = testClass; c != null; c = c.getEnclosingClass()) {
            Optional<ServerTest> a = AnnotationSupport.findAnnotation(c, ServerTest.class);
            if (a.isPresent()) {
                return a.get();
            }
        }
        throw new ExtensionConfigurationException(testClass.getName() + " is not annotated @ServerTest");
    }

    /** The fixture of the nearest class, from {@code context} outwards, that started one. */
    private static Optional<ServerFixture> find(ExtensionContext context) {
        for (Optional<ExtensionContext> c = Optional.of(context); c.isPresent(); c = c.get().getParent()) {
            ServerFixture f = c.get().getStore(NAMESPACE).get(c.get().getUniqueId(), ServerFixture.class);
            if (f != null) {
                return Optional.of(f);
            }
        }
        return Optional.empty();
    }

    /** The {@code @SetUpServer} method of the closest class, from {@code testClass} up, that declares one. */
    private static Optional<Method> setUpMethod(Class<?> testClass) {
        for (Class<?> c = testClass; c != null && c != Object.class; c = c.getSuperclass()) {
            Class<?> declaring = c;
            List<Method> declared = AnnotationSupport.findAnnotatedMethods(c, SetUpServer.class, HierarchyTraversalMode.TOP_DOWN)
                    .stream().filter(m -> m.getDeclaringClass() == declaring).toList();
            if (declared.size() > 1) {
                throw new ExtensionConfigurationException(c.getName() + " has " + declared.size() + " @SetUpServer methods "
                        + declared.stream().map(Method::getName).toList() + "; a class has at most one");
            }
            if (!declared.isEmpty()) {
                return Optional.of(declared.getFirst());
            }
        }
        return Optional.empty();
    }

    /** Calls the method in whichever of its three shapes it has; see {@link SetUpServer}. */
    private static Server callSetUp(Method m, Object instance, StellaneRuntime runtime) {
        boolean isStatic = Modifier.isStatic(m.getModifiers());
        if (!isStatic && instance == null) {
            throw shape(m, "must be static (or the class @TestInstance(PER_CLASS))");
        }
        Object target = isStatic ? null : instance;
        Class<?>[] params = m.getParameterTypes();
        if (Arrays.equals(params, new Class<?>[] {Server.class}) && m.getReturnType() == void.class) {
            Server server = new Server(runtime, ServerConfig.defaults());
            ReflectionSupport.invokeMethod(m, target, server);
            return server;
        }
        if (Server.class.isAssignableFrom(m.getReturnType())
                && (params.length == 0 || Arrays.equals(params, new Class<?>[] {StellaneRuntime.class}))) {
            Object server = params.length == 0 ? ReflectionSupport.invokeMethod(m, target)
                    : ReflectionSupport.invokeMethod(m, target, runtime);
            if (server == null) {
                throw shape(m, "returned null instead of a Server");
            }
            return (Server) server;
        }
        throw shape(m, "has the wrong shape");
    }

    private static ExtensionConfigurationException shape(Method m, String problem) {
        return new ExtensionConfigurationException("@SetUpServer method " + m.getDeclaringClass().getName() + "." + m.getName()
                + " " + problem + "; it is one of: static void m(Server server), static Server m(StellaneRuntime runtime),"
                + " static Server m()");
    }
}
