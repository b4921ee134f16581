// The control routes and the request bounds of the exporter, in-process on loopback: a bearer
// token or nothing, and no client (huge, slow, or many) that stalls the others.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <nlohmann/json.hpp>
#include <thread>

#include "control_http.hpp"
#include "metrics/exporter.hpp"
#include "metrics_http.hpp"

namespace sluice::metrics {
namespace {

using namespace std::chrono_literals;
using test::control_post;
using test::http_get;
using ::testing::HasSubstr;
namespace net = boost::asio;
namespace http = boost::beast::http;

constexpr const char *kToken = "0123456789abcdef-test-token";

/// An exporter with control, its pause flag and a count of reloads.
struct Controlled {
    std::atomic<bool> paused{false};
    std::atomic<int> reloads{0};
    Exporter exporter;

    explicit Controlled(ExporterOptions options = {})
        : exporter("127.0.0.1:0", with_control(std::move(options))) {}

    ExporterOptions with_control(ExporterOptions options) {
        options.control.token = kToken;
        options.control.set_paused = [this](bool p) { paused = p; };
        options.control.paused = [this] { return paused.load(); };
        options.control.reload = [this] {
            ++reloads;
            return std::string("rescanning");
        };
        return options;
    }
    int port() const { return exporter.address().port; }
};

TEST(ControlTest, WithoutATokenTheRoutesDoNotExistAndThePageHasNoButtons) {
    Exporter exporter("127.0.0.1:0");
    const int port = exporter.address().port;
    for (const char *action : {"pause", "resume", "reload"}) {
        const auto r = control_post(port, action, kToken);
        ASSERT_TRUE(r);
        EXPECT_EQ(r->status, 404) << action;
    }
    const auto page = test::http_request(port, http::verb::get, "/", {{"Accept", "text/html"}});
    ASSERT_TRUE(page);
    EXPECT_EQ(page->status, 200);
    EXPECT_THAT(page->content_type, HasSubstr("text/html"));
    EXPECT_THAT(page->body, HasSubstr("data-control=\"off\""));
}

TEST(ControlTest, AMissingOrWrongTokenChangesNothing) {
    Controlled c;
    const auto missing = control_post(c.port(), "pause", "");
    ASSERT_TRUE(missing);
    EXPECT_EQ(missing->status, 401);
    const auto wrong = control_post(c.port(), "pause", "0123456789abcdef-test-tokeN");
    ASSERT_TRUE(wrong);
    EXPECT_EQ(wrong->status, 403);
    const auto shorter = control_post(c.port(), "pause", "0123456789abcdef");
    ASSERT_TRUE(shorter);
    EXPECT_EQ(shorter->status, 403);
    const auto basic = test::http_request(c.port(), http::verb::post, "/control/pause",
                                          {{"Authorization", std::string("Basic ") + kToken}});
    ASSERT_TRUE(basic);
    EXPECT_EQ(basic->status, 401);
    const auto reload = control_post(c.port(), "reload", "nope");
    ASSERT_TRUE(reload);
    EXPECT_EQ(reload->status, 403);
    EXPECT_FALSE(c.paused);
    EXPECT_EQ(c.reloads, 0);
    // GET is not a way in either.
    const auto get = http_get("127.0.0.1", c.port(), "/control/pause");
    ASSERT_TRUE(get);
    EXPECT_EQ(get->status, 405);
    EXPECT_FALSE(c.paused);
}

TEST(ControlTest, TheRightTokenPausesResumesAndReloads) {
    Controlled c;
    const auto page = test::http_request(c.port(), http::verb::get, "/", {{"Accept", "text/html"}});
    ASSERT_TRUE(page);
    EXPECT_THAT(page->body, HasSubstr("data-control=\"on\""));

    auto r = control_post(c.port(), "pause", kToken);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200) << r->body;
    EXPECT_TRUE(c.paused);
    EXPECT_EQ(nlohmann::json::parse(r->body).at("paused"), true);
    // Paused: alive, not ready, and the page's history says so.
    RunSnapshot s;
    s.state = RunState::running;
    c.exporter.publish(s);
    const auto ready = http_get("127.0.0.1", c.port(), "/readyz");
    ASSERT_TRUE(ready);
    EXPECT_EQ(ready->status, 503);
    EXPECT_THAT(ready->body, HasSubstr("paused"));
    const auto alive = http_get("127.0.0.1", c.port(), "/healthz");
    ASSERT_TRUE(alive);
    EXPECT_EQ(alive->status, 200);
    const auto batches = http_get("127.0.0.1", c.port(), "/status/batches");
    ASSERT_TRUE(batches);
    EXPECT_EQ(nlohmann::json::parse(batches->body).at("paused"), true);

    r = control_post(c.port(), "resume", kToken);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
    EXPECT_FALSE(c.paused);
    r = control_post(c.port(), "reload", kToken);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(c.reloads, 1);
    EXPECT_EQ(nlohmann::json::parse(r->body).at("result"), "rescanning");
    r = control_post(c.port(), "explode", kToken);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 404);
}

TEST(ControlTest, AnOversizedRequestIsRefusedAndOthersAreStillAnswered) {
    Controlled c;
    // A body announced over the limit is refused from its headers, before it is read.
    const auto body = test::http_request(c.port(), http::verb::post, "/control/pause",
                                         {{"Authorization", std::string("Bearer ") + kToken}},
                                         std::string(64 * 1024, 'x'));
    if (body) {  // else the connection was reset while we were still sending
        EXPECT_EQ(body->status, 413);
    }
    EXPECT_FALSE(c.paused);
    const auto headers = test::http_request(c.port(), http::verb::get, "/status",
                                            {{"X-Filler", std::string(16 * 1024, 'y')}});
    ASSERT_TRUE(headers);
    EXPECT_EQ(headers->status, 431);
    const auto status = http_get("127.0.0.1", c.port(), "/status");
    ASSERT_TRUE(status);
    EXPECT_EQ(status->status, 200);
}

TEST(ControlTest, ASlowlorisConnectionDoesNotStallOthersAndIsDropped) {
    ExporterOptions options;
    options.request_timeout = 1s;
    Controlled c(std::move(options));
    net::io_context io;
    net::ip::tcp::socket slow(io);
    slow.connect({net::ip::make_address("127.0.0.1"), static_cast<uint16_t>(c.port())});
    net::write(slow, net::buffer(std::string("POST /control/pause HTTP/1.1\r\nHost: x\r\n")));
    // While it trickles a header byte at a time, other clients get their answers.
    bool dropped = false;
    for (int i = 0; i < 30 && !dropped; ++i) {
        boost::system::error_code ec;
        net::write(slow, net::buffer(std::string("X")), ec);
        if (ec) {
            dropped = true;
            break;
        }
        const auto status = http_get("127.0.0.1", c.port(), "/status", 2s);
        ASSERT_TRUE(status) << "another client got no answer while a slow one was connected";
        EXPECT_EQ(status->status, 200);
        std::this_thread::sleep_for(100ms);
        // The server closes the slow connection once its request is overdue.
        char byte = 0;
        slow.non_blocking(true);
        const size_t n = slow.read_some(net::buffer(&byte, 1), ec);
        slow.non_blocking(false);
        if (ec == net::error::eof || ec == net::error::connection_reset || (!ec && n == 0))
            dropped = true;
    }
    EXPECT_TRUE(dropped) << "the slow connection was still open after 3 s (timeout 1 s)";
    EXPECT_FALSE(c.paused);
}

TEST(ControlTest, ConnectionsOverTheLimitAreRefusedWithoutStallingTheServer) {
    ExporterOptions options;
    options.max_connections = 3;
    options.request_timeout = 1s;
    Controlled c(std::move(options));
    net::io_context io;
    std::vector<net::ip::tcp::socket> idle;
    for (int i = 0; i < 3; ++i) {
        idle.emplace_back(io);
        idle.back().connect({net::ip::make_address("127.0.0.1"), static_cast<uint16_t>(c.port())});
    }
    std::this_thread::sleep_for(200ms);  // let the exporter accept them
    EXPECT_FALSE(http_get("127.0.0.1", c.port(), "/status", 2s)) << "over the limit: refused";
    // The idle ones time out; then the exporter answers again.
    bool answered = false;
    for (int i = 0; i < 20 && !answered; ++i) {
        answered = http_get("127.0.0.1", c.port(), "/status").has_value();
        if (!answered) std::this_thread::sleep_for(500ms);
    }
    EXPECT_TRUE(answered);
}

}  // namespace
}  // namespace sluice::metrics
