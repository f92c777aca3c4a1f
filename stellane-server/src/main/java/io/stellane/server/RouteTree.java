package io.stellane.server;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * A segment trie of route patterns such as {@code /users/{id}/posts}, each leaf holding one value
 * per HTTP method.
 *
 * <h2>How it works</h2>
 * Each node has static children (looked up by segment text) and at most one parameter child. Matching
 * walks the path one segment at a time without splitting it; static children are tried before the
 * parameter child, and matching backtracks into the parameter branch when the static one fails deeper
 * down. A static path matches without allocating; parameter values are written into a caller-provided
 * array of {@link #maxParams()} slots.
 *
 * <h2>Threading</h2>
 * Building ({@link #add}) is not thread-safe; once built and published safely (as the server does
 * when it starts listening), {@link #find} may be called from any number of threads.
 *
 * @param <T> what a route leads to (the server stores handlers)
 */
final class RouteTree<T> {

    /** The methods a route can be registered for, in the order used by {@link #methodIndex}. */
    public static final List<String> METHODS = List.of("GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS");
    public static final int GET = 0, HEAD = 1, POST = 2, PUT = 3, DELETE = 4, PATCH = 5, OPTIONS = 6;

    private static final int LINEAR_CHILDREN = 8;

    private final Node<T> root = new Node<>();
    private int maxParams;

    /**
     * The index of {@code method} in {@link #METHODS}, or {@code -1} when routes cannot use it. A
     * switch (the string's cached hash, then one compare) rather than {@code METHODS.indexOf}: on
     * every request, the list's loop of {@code equals} calls was 8% of a pipelined request's time.
     */
    public static int methodIndex(String method) {
        return switch (method) {
            case "GET" -> GET;
            case "HEAD" -> HEAD;
            case "POST" -> POST;
            case "PUT" -> PUT;
            case "DELETE" -> DELETE;
            case "PATCH" -> PATCH;
            case "OPTIONS" -> OPTIONS;
            default -> -1;
        };
    }

    /**
     * Adds a route. A segment written {@code {name}} matches any one non-empty segment and captures it.
     *
     * @throws IllegalArgumentException for a malformed pattern, an unknown method, a route already
     *                                  registered, or a parameter named differently from one already
     *                                  registered at the same position
     */
    public void add(String method, String pattern, T value) {
        int m = methodIndex(method);
        if (m < 0) {
            throw new IllegalArgumentException("unsupported method '" + method + "'; one of " + METHODS);
        }
        Objects.requireNonNull(value, "value");
        if (pattern == null || !pattern.startsWith("/")) {
            throw new IllegalArgumentException("a route pattern starts with '/': " + pattern);
        }
        Node<T> node = root;
        List<String> names = new ArrayList<>();
        for (String segment : segments(pattern)) {
            if (segment.isEmpty()) {
                throw new IllegalArgumentException("empty segment in route pattern '" + pattern + "'");
            }
            if (segment.startsWith("{") && segment.endsWith("}")) {
                String name = segment.substring(1, segment.length() - 1);
                if (name.isEmpty() || name.contains("{") || name.contains("}")) {
                    throw new IllegalArgumentException("bad parameter '" + segment + "' in '" + pattern + "'");
                }
                if (names.contains(name)) {
                    throw new IllegalArgumentException("parameter '" + name + "' appears twice in '" + pattern + "'");
                }
                if (node.param == null) {
                    node.param = new Node<>();
                    node.paramName = name;
                } else if (!node.paramName.equals(name)) {
                    throw new IllegalArgumentException("'" + pattern + "' names a parameter {" + name
                            + "} where another route already has {" + node.paramName + "}");
                }
                names.add(name);
                node = node.param;
            } else if (segment.contains("{") || segment.contains("}")) {
                throw new IllegalArgumentException("a parameter must be a whole segment: '" + segment + "' in '" + pattern + "'");
            } else {
                node = node.staticChild(segment);
            }
        }
        Endpoint<T> e = node.endpoint;
        if (e == null) {
            e = node.endpoint = new Endpoint<>(pattern, names.toArray(String[]::new));
        }
        if (e.values[m] != null) {
            throw new IllegalArgumentException("route " + method + " " + pattern + " is already registered (as "
                    + method + " " + e.pattern + ")");
        }
        e.values[m] = value;
        e.refreshAllow();
        maxParams = Math.max(maxParams, names.size());
    }

    /** The most parameters any route captures: the size of the array {@link #find} needs. */
    public int maxParams() {
        return maxParams;
    }

    /**
     * The endpoint matching {@code path} (which starts with {@code '/'}; no query), or {@code null}.
     * One trailing slash is ignored. Parameter values (still percent-encoded) go to
     * {@code params[0..endpoint.paramCount())}.
     */
    public Endpoint<T> find(String path, String[] params) {
        int end = path.length();
        if (end > 1 && path.charAt(end - 1) == '/') {
            end--;
        }
        if (end == 0 || path.charAt(0) != '/') {
            return null;
        }
        if (end == 1) {
            return root.endpoint;
        }
        Node<T> n = match(root, path, 1, end, params, 0);
        return n == null ? null : n.endpoint;
    }

    /** Every endpoint's methods together, in {@link #METHODS} order, plus OPTIONS: the {@code Allow} of {@code OPTIONS *}. */
    public String allowAll() {
        boolean[] any = new boolean[METHODS.size()];
        collect(root, any);
        return Endpoint.allowOf(any);
    }

    private static <T> void collect(Node<T> n, boolean[] any) {
        if (n.endpoint != null) {
            for (int i = 0; i < any.length; i++) {
                any[i] |= n.endpoint.values[i] != null;
            }
        }
        for (Node<T> c : n.children) {
            collect(c, any);
        }
        if (n.param != null) {
            collect(n.param, any);
        }
    }

    private static <T> Node<T> match(Node<T> node, String path, int start, int end, String[] params, int depth) {
        int slash = path.indexOf('/', start);
        int segEnd = slash < 0 || slash > end ? end : slash;
        int len = segEnd - start;
        boolean last = segEnd == end;
        if (len > 0) {
            Node<T> child = node.findStatic(path, start, len);
            if (child != null) {
                Node<T> found = last ? (child.endpoint != null ? child : null)
                        : match(child, path, segEnd + 1, end, params, depth);
                if (found != null) {
                    return found;
                }
            }
            Node<T> p = node.param;
            if (p != null) {
                Node<T> found = last ? (p.endpoint != null ? p : null)
                        : match(p, path, segEnd + 1, end, params, depth + 1);
                if (found != null) {
                    params[depth] = path.substring(start, segEnd);
                    return found;
                }
            }
        }
        return null;
    }

    private static List<String> segments(String pattern) {
        String p = pattern.length() > 1 && pattern.endsWith("/") ? pattern.substring(0, pattern.length() - 1) : pattern;
        if (p.equals("/")) {
            return List.of();
        }
        return List.of(p.substring(1).split("/", -1));
    }

    /**
     * What one pattern leads to: a value per method, the pattern's parameter names, and the
     * pre-computed {@code Allow} header (GET implies HEAD; OPTIONS is always allowed).
     */
    public static final class Endpoint<T> {
        private final String pattern;
        private final String[] paramNames;
        private final Object[] values = new Object[METHODS.size()];
        private String allow;

        Endpoint(String pattern, String[] paramNames) {
            this.pattern = pattern;
            this.paramNames = paramNames;
        }

        /** The value registered for the method at {@code methodIndex}, or {@code null}. */
        @SuppressWarnings("unchecked")
        public T value(int methodIndex) {
            return (T) values[methodIndex];
        }

        public String pattern() {
            return pattern;
        }

        public int paramCount() {
            return paramNames.length;
        }

        /** Parameter names in path order (do not modify). */
        public String[] paramNames() {
            return paramNames;
        }

        /** The methods this pattern answers, for {@code Allow}: e.g. {@code "GET, HEAD, OPTIONS"}. */
        public String allow() {
            return allow;
        }

        void refreshAllow() {
            boolean[] has = new boolean[values.length];
            for (int i = 0; i < values.length; i++) {
                has[i] = values[i] != null;
            }
            allow = allowOf(has);
        }

        static String allowOf(boolean[] has) {
            StringBuilder sb = new StringBuilder();
            for (int i = 0; i < has.length; i++) {
                boolean on = has[i] || (i == HEAD && has[GET]) || i == OPTIONS;
                if (on) {
                    if (!sb.isEmpty()) {
                        sb.append(", ");
                    }
                    sb.append(METHODS.get(i));
                }
            }
            return sb.toString();
        }
    }

    private static final class Node<T> {
        // few children: scanned with regionMatches (no substring); many: hashed
        private final List<Node<T>> children = new ArrayList<>(2);
        private String[] keys = new String[0];
        private Object[] nodes = new Object[0];
        private Map<String, Node<T>> byKey;
        private Node<T> param;
        private String paramName;
        private Endpoint<T> endpoint;

        Node<T> staticChild(String segment) {
            for (int i = 0; i < keys.length; i++) {
                if (keys[i].equals(segment)) {
                    @SuppressWarnings("unchecked")
                    Node<T> n = (Node<T>) nodes[i];
                    return n;
                }
            }
            Node<T> n = new Node<>();
            int k = keys.length;
            keys = java.util.Arrays.copyOf(keys, k + 1);
            nodes = java.util.Arrays.copyOf(nodes, k + 1);
            keys[k] = segment;
            nodes[k] = n;
            children.add(n);
            if (keys.length > LINEAR_CHILDREN) {
                byKey = new HashMap<>();
                for (int i = 0; i < keys.length; i++) {
                    @SuppressWarnings("unchecked")
                    Node<T> c = (Node<T>) nodes[i];
                    byKey.put(keys[i], c);
                }
            }
            return n;
        }

        @SuppressWarnings("unchecked")
        Node<T> findStatic(String path, int start, int len) {
            if (byKey != null) {
                return byKey.get(path.substring(start, start + len));
            }
            String[] ks = keys;
            for (int i = 0; i < ks.length; i++) {
                String k = ks[i];
                if (k.length() == len && path.regionMatches(start, k, 0, len)) {
                    return (Node<T>) nodes[i];
                }
            }
            return null;
        }
    }
}
