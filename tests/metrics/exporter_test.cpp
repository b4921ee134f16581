// The HTTP exporter in-process on loopback, read with a Boost.Beast client.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <boost/asio/ip/tcp.hpp>
#include <nlohmann/json.hpp>
#include <thread>

#include "metrics/exporter.hpp"
#include "metrics_http.hpp"

namespace sluice::metrics {
namespace {

using test::http_get;
using ::testing::HasSubstr;

TEST(ExporterTest, ServesTheLatestSnapshotAsTextAndJson) {
    Exporter exporter("127.0.0.1:0");
    const int port = exporter.address().port;
    ASSERT_NE(port, 0);
    EXPECT_EQ(exporter.url(), "http://127.0.0.1:" + std::to_string(port));

    // Before the first publish: an empty run.
    auto metrics = http_get("127.0.0.1", port, "/metrics");
    ASSERT_TRUE(metrics);
    EXPECT_EQ(metrics->status, 200);
    EXPECT_EQ(metrics->content_type, "text/plain; version=0.0.4; charset=utf-8");
    EXPECT_EQ(test::parse_samples(metrics->body).at("sluice_batches_total"), 0);

    RunSnapshot s;
    s.state = RunState::running;
    s.add_batch({0, 1, false, 10, 100, 0.01, 0});
    exporter.publish(s);
    s.add_batch({1, 2, false, 5, 50, 0.01, 0});
    exporter.publish(s);
    EXPECT_EQ(exporter.latest()->records, 15u);
    EXPECT_GT(exporter.latest()->published_at_ms, 0);

    metrics = http_get("127.0.0.1", port, "/metrics?name[]=x");  // query strings are ignored
    ASSERT_TRUE(metrics);
    const auto samples = test::parse_samples(metrics->body);
    EXPECT_EQ(samples.at("sluice_batches_total"), 2);
    EXPECT_EQ(samples.at("sluice_records_total"), 15);

    const auto status = http_get("127.0.0.1", port, "/status");
    ASSERT_TRUE(status);
    EXPECT_EQ(status->status, 200);
    EXPECT_EQ(status->content_type, "application/json");
    const auto j = nlohmann::json::parse(status->body);
    EXPECT_EQ(j["records"], 15);
    EXPECT_EQ(j["state"], "running");

    const auto missing = http_get("127.0.0.1", port, "/nothing");
    ASSERT_TRUE(missing);
    EXPECT_EQ(missing->status, 404);
}

TEST(ExporterTest, KeepAliveConnectionsGetSeveralAnswers) {
    Exporter exporter("127.0.0.1:0");
    namespace net = boost::asio;
    namespace http = boost::beast::http;
    net::io_context io;
    net::ip::tcp::socket socket(io);
    socket.connect({net::ip::make_address("127.0.0.1"), exporter.address().port});
    boost::beast::flat_buffer buffer;
    for (const char *target : {"/metrics", "/status", "/metrics"}) {
        http::request<http::empty_body> request{http::verb::get, target, 11};
        request.set(http::field::host, "127.0.0.1");
        http::write(socket, request);
        http::response<http::string_body> response;
        http::read(socket, buffer, response);
        EXPECT_EQ(response.result_int(), 200u) << target;
        EXPECT_TRUE(response.keep_alive());
    }
}

TEST(ExporterTest, StopsCleanlyWithAnIdleClientConnected) {
    namespace net = boost::asio;
    net::io_context io;
    net::ip::tcp::socket idle(io);
    int port = 0;
    {
        Exporter exporter("127.0.0.1:0");
        port = exporter.address().port;
        idle.connect({net::ip::make_address("127.0.0.1"), static_cast<uint16_t>(port)});
        exporter.stop();
        exporter.stop();  // idempotent; the destructor calls it again
    }
    // The listener is gone.
    EXPECT_FALSE(http_get("127.0.0.1", port, "/metrics", std::chrono::seconds(2)));
}

TEST(ExporterTest, AnswersOnlyGet) {
    Exporter exporter("127.0.0.1:0");
    namespace net = boost::asio;
    namespace http = boost::beast::http;
    net::io_context io;
    net::ip::tcp::socket socket(io);
    socket.connect({net::ip::make_address("127.0.0.1"), exporter.address().port});
    http::request<http::string_body> request{http::verb::post, "/metrics", 11};
    request.set(http::field::host, "127.0.0.1");
    request.body() = "x";
    request.prepare_payload();
    http::write(socket, request);
    boost::beast::flat_buffer buffer;
    http::response<http::string_body> response;
    http::read(socket, buffer, response);
    EXPECT_EQ(response.result_int(), 405u);
    EXPECT_EQ(response[http::field::allow], "GET");
}

TEST(ExporterTest, APortInUseIsOneLineNamingTheAddressAndTheFix) {
    Exporter first("127.0.0.1:0");
    const std::string address = "127.0.0.1:" + std::to_string(first.address().port);
    try {
        Exporter second(address);
        FAIL() << "bound a port in use";
    } catch (const MetricsError &e) {
        const std::string what = e.what();
        EXPECT_THAT(what, HasSubstr("--metrics-address " + address));
        EXPECT_THAT(what, HasSubstr("already in use"));
        EXPECT_THAT(what, HasSubstr("port 0"));
        EXPECT_EQ(what.find('\n'), std::string::npos);
    }
}

TEST(ExporterTest, BadAddressesAreMetricsErrors) {
    EXPECT_THROW(Exporter("no-port"), MetricsError);
    try {
        Exporter("no.such.host.invalid:0");
        FAIL() << "resolved";
    } catch (const MetricsError &e) {
        EXPECT_THAT(e.what(), HasSubstr("cannot resolve"));
    }
}

TEST(ExporterTest, PublishWhileScrapingIsSafe) {
    // For ThreadSanitizer: the batch thread publishes while the HTTP thread renders.
    Exporter exporter("127.0.0.1:0");
    const int port = exporter.address().port;
    std::atomic<bool> done{false};
    std::thread publisher([&] {
        RunSnapshot s;
        s.plugins.resize(3);
        while (!done) {
            s.add_batch({static_cast<int64_t>(s.batches), 0, false, 1, 1, 0, 0});
            s.next_offsets[{"t", static_cast<int32_t>(s.batches % 8)}] =
                static_cast<int64_t>(s.batches);
            exporter.publish(s);
        }
    });
    double last = -1;
    for (int i = 0; i < 20; ++i) {
        const auto metrics = http_get("127.0.0.1", port, "/metrics");
        ASSERT_TRUE(metrics);
        const auto samples = test::parse_samples(metrics->body);
        ASSERT_FALSE(samples.empty());
        // A snapshot is whole: its records match its batches, and counters never go back.
        EXPECT_EQ(samples.at("sluice_records_total"), samples.at("sluice_batches_total"));
        EXPECT_GE(samples.at("sluice_batches_total"), last);
        last = samples.at("sluice_batches_total");
    }
    done = true;
    publisher.join();
}

}  // namespace
}  // namespace sluice::metrics
