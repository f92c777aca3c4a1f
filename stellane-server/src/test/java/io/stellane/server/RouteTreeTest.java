package io.stellane.server;

import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class RouteTreeTest {
    private final RouteTree<String> tree = new RouteTree<>();
    private final String[] params = new String[4];

    @Test
    void staticRoutesMatchExactlyAndIgnoreOneTrailingSlash() {
        tree.add("GET", "/", "root");
        tree.add("GET", "/users", "list");
        tree.add("GET", "/users/active", "active");

        assertThat(tree.find("/", params).value(RouteTree.GET)).isEqualTo("root");
        assertThat(tree.find("/users", params).value(RouteTree.GET)).isEqualTo("list");
        assertThat(tree.find("/users/", params).value(RouteTree.GET)).isEqualTo("list");
        assertThat(tree.find("/users/active", params).value(RouteTree.GET)).isEqualTo("active");
        assertThat(tree.find("/user", params)).isNull();
        assertThat(tree.find("/users/active/x", params)).isNull();
        assertThat(tree.find("", params)).isNull();
    }

    @Test
    void parametersCaptureOneSegmentEach() {
        tree.add("GET", "/users/{id}/posts/{post}", "post");
        RouteTree.Endpoint<String> e = tree.find("/users/42/posts/7", params);

        assertThat(e.value(RouteTree.GET)).isEqualTo("post");
        assertThat(e.paramNames()).containsExactly("id", "post");
        assertThat(params[0]).isEqualTo("42");
        assertThat(params[1]).isEqualTo("7");
        assertThat(tree.maxParams()).isEqualTo(2);
        assertThat(tree.find("/users//posts/7", params)).isNull();
    }

    @Test
    void staticSegmentsWinOverParametersAndMatchingBacktracks() {
        tree.add("GET", "/users/me", "me");
        tree.add("GET", "/users/{id}", "byId");
        tree.add("GET", "/users/me/settings", "settings");
        tree.add("GET", "/users/{id}/friends", "friends");

        assertThat(tree.find("/users/me", params).value(RouteTree.GET)).isEqualTo("me");
        assertThat(tree.find("/users/7", params).value(RouteTree.GET)).isEqualTo("byId");
        assertThat(tree.find("/users/me/settings", params).value(RouteTree.GET)).isEqualTo("settings");
        // "me" is static, but /users/me/friends only exists through the parameter branch
        assertThat(tree.find("/users/me/friends", params).value(RouteTree.GET)).isEqualTo("friends");
        assertThat(params[0]).isEqualTo("me");
    }

    @Test
    void manyChildrenAreHashed() {
        for (int i = 0; i < 50; i++) {
            tree.add("GET", "/r" + i, "v" + i);
        }
        assertThat(tree.find("/r37", params).value(RouteTree.GET)).isEqualTo("v37");
        assertThat(tree.find("/r50", params)).isNull();
    }

    @Test
    void allowListsMethodsWithHeadForGetAndAlwaysOptions() {
        tree.add("GET", "/items", "g");
        tree.add("POST", "/items", "p");
        tree.add("DELETE", "/items/{id}", "d");
        RouteTree.Endpoint<String> e = tree.find("/items", params);

        assertThat(e.allow()).isEqualTo("GET, HEAD, POST, OPTIONS");
        assertThat(e.value(RouteTree.PUT)).isNull();
        assertThat(e.value(RouteTree.HEAD)).isNull(); // the server falls back to GET
        assertThat(tree.find("/items/3", params).allow()).isEqualTo("DELETE, OPTIONS");
        assertThat(tree.allowAll()).isEqualTo("GET, HEAD, POST, DELETE, OPTIONS");
    }

    @Test
    void rejectsDuplicatesConflictingNamesAndMalformedPatterns() {
        tree.add("GET", "/users/{id}", "a");
        assertThatThrownBy(() -> tree.add("GET", "/users/{id}", "b")).hasMessageContaining("already registered");
        assertThatThrownBy(() -> tree.add("GET", "/users/{name}/x", "b")).hasMessageContaining("{id}");
        assertThatThrownBy(() -> tree.add("GET", "users", "b")).hasMessageContaining("starts with '/'");
        assertThatThrownBy(() -> tree.add("GET", "/a//b", "b")).hasMessageContaining("empty segment");
        assertThatThrownBy(() -> tree.add("GET", "/a/x{id}", "b")).hasMessageContaining("whole segment");
        assertThatThrownBy(() -> tree.add("TRACE", "/a", "b")).hasMessageContaining("unsupported method");
        assertThatThrownBy(() -> tree.add("GET", "/a/{id}/{id}", "b")).hasMessageContaining("twice");
    }
}
