// The HTTP endpoints of a real `sluice run --metrics-address` (docs/security.md): a request over
// the header or body limit is answered 431/413 and its connection closed; a slowloris client
// (a request trickled a byte at a time) and an idle connection are dropped when the request
// timeout (10 s) passes, while other clients are answered meanwhile; a control token that is
// wrong in its last byte only, or a prefix of the right one, is refused.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <chrono>
#include <thread>

#include "../metrics/control_http.hpp"
#include "host_run.hpp"
#include "metrics_http.hpp"
#include "mock_broker_suite.hpp"
#include "sluice_command.hpp"

namespace sluice::test {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;
namespace net = boost::asio;
using tcp = net::ip::tcp;

constexpr const char *kToken = "security-endpoints-token-0123456789";

class EndpointsRun : public MockBrokerSuite<EndpointsRun> {
  public:
    static std::vector<MockTopic> mock_topics() { return {{"served", 1}}; }

  protected:
    void SetUp() override {
        host_.emplace(
            sluice_argv({"run", "--brokers", bootstrap(), "--topics", "served", "--plugin", "noop",
                         "--batch-interval", "200ms", "--metrics-address", "127.0.0.1:0",
                         "--control-token", kToken, "-X", "fetch.wait.max.ms=10"}),
            ChildProcess::Options{log_, false});
        ASSERT_TRUE(wait_until([&] { return (port_ = logged_metrics_port(log_)) != 0; }, 30s))
            << read_file(log_);
    }
    void TearDown() override {
        if (host_) {
            EXPECT_TRUE(stops_cleanly(*host_, log_));
        }
    }

    tcp::socket connect() {
        tcp::socket s(io_);
        s.connect({net::ip::make_address("127.0.0.1"), static_cast<uint16_t>(port_)});
        return s;
    }
    // Everything the server sends until it closes the connection (or 5 s pass).
    static std::string read_until_closed(tcp::socket &s) {
        std::string out;
        const auto deadline = std::chrono::steady_clock::now() + 5s;
        s.non_blocking(true);
        while (std::chrono::steady_clock::now() < deadline) {
            char buf[4096];
            boost::system::error_code ec;
            const size_t n = s.read_some(net::buffer(buf), ec);
            if (ec == net::error::would_block) {
                std::this_thread::sleep_for(20ms);
                continue;
            }
            if (ec) return out;  // closed (eof or reset)
            out.append(buf, n);
        }
        return out + "[still open]";
    }
    // Whether the server has closed `s` (a read sees end of stream or a reset).
    static bool closed_by_server(tcp::socket &s) {
        s.non_blocking(true);
        char byte = 0;
        boost::system::error_code ec;
        s.read_some(net::buffer(&byte, 1), ec);
        s.non_blocking(false);
        return ec && ec != net::error::would_block;
    }

    TempDir dir_ = temp_dir("sluice-security-endpoints");
    std::string log_ = dir_.file("host.log");
    std::optional<ChildProcess> host_;
    int port_ = 0;
    net::io_context io_;
};

TEST_F(EndpointsRun, OversizedRequestsAreRefusedAndTheirConnectionsClosed) {
    {
        tcp::socket s = connect();
        const std::string request =
            "GET /status HTTP/1.1\r\nHost: x\r\nX-Padding: " + std::string(64 * 1024, 'a') +
            "\r\n\r\n";
        boost::system::error_code ec;
        net::write(s, net::buffer(request), ec);  // the server may close before all is sent
        const std::string answer = read_until_closed(s);
        EXPECT_THAT(answer, StartsWith("HTTP/1.1 431"));
        EXPECT_THAT(answer, HasSubstr("request headers over 8192 bytes"));
        EXPECT_THAT(answer, Not(HasSubstr("[still open]")));
    }
    {
        tcp::socket s = connect();
        const std::string body(1024 * 1024, 'b');
        const std::string request =
            "POST /control/pause HTTP/1.1\r\nHost: x\r\nAuthorization: "
            "Bearer " +
            std::string(kToken) + "\r\nContent-Length: " + std::to_string(body.size()) +
            "\r\n\r\n" + body;
        boost::system::error_code ec;
        net::write(s, net::buffer(request), ec);
        const std::string answer = read_until_closed(s);
        EXPECT_THAT(answer, StartsWith("HTTP/1.1 413"));
        EXPECT_THAT(answer, Not(HasSubstr("[still open]")));
    }
    // Nothing was paused by the oversized control request (promote changes nothing here and
    // answers with the pause state), and the server still answers.
    const auto state = control_post(port_, "promote", kToken);
    ASSERT_TRUE(state);
    EXPECT_EQ(state->status, 200);
    EXPECT_THAT(state->body, HasSubstr("\"paused\":false"));
}

TEST_F(EndpointsRun, SlowAndIdleClientsAreDroppedWhileOthersAreAnswered) {
    tcp::socket idle = connect();
    tcp::socket slow = connect();
    net::write(slow, net::buffer(std::string("GET /status HTTP/1.1\r\nHost: x\r\n")));
    bool slow_dropped = false, idle_dropped = false;
    int answered = 0;
    // The request timeout is 10 s: both are gone well before 30 s.
    const auto deadline = std::chrono::steady_clock::now() + 30s;
    while (std::chrono::steady_clock::now() < deadline && !(slow_dropped && idle_dropped)) {
        boost::system::error_code ec;
        if (!slow_dropped) {
            net::write(slow, net::buffer(std::string("X")), ec);  // one byte of a header name
            slow_dropped = ec || closed_by_server(slow);
        }
        if (!idle_dropped) idle_dropped = closed_by_server(idle);
        const auto health = http_get("127.0.0.1", port_, "/healthz");
        ASSERT_TRUE(health) << "another client got no answer while slow ones were connected";
        ++answered;
        std::this_thread::sleep_for(500ms);
    }
    EXPECT_TRUE(slow_dropped) << "a request trickled a byte every 0.5 s was still open after 30 s";
    EXPECT_TRUE(idle_dropped) << "a connection that sent nothing was still open after 30 s";
    EXPECT_GT(answered, 10);
}

TEST_F(EndpointsRun, TheControlTokenMustMatchInFull) {
    const std::string token = kToken;
    std::string last_byte_wrong = token;
    last_byte_wrong.back() ^= 1;
    for (const std::string &wrong : {last_byte_wrong, token.substr(0, token.size() - 1),
                                     token + "0", std::string(token.size(), 'x')}) {
        const auto r = control_post(port_, "pause", wrong);
        ASSERT_TRUE(r);
        EXPECT_EQ(r->status, 403) << wrong;
    }
    const auto state = control_post(port_, "promote", token);
    ASSERT_TRUE(state);
    EXPECT_THAT(state->body, HasSubstr("\"paused\":false"));
    const auto right = control_post(port_, "pause", token);
    ASSERT_TRUE(right);
    EXPECT_EQ(right->status, 200);
    const auto resumed = control_post(port_, "resume", token);
    ASSERT_TRUE(resumed);
    EXPECT_EQ(resumed->status, 200);
}

}  // namespace
}  // namespace sluice::test
