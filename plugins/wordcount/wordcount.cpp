// wordcount: counts the words of record values. A word is a maximal run of
// bytes other than ASCII whitespace (space, \t, \n, \v, \f, \r), compared
// byte for byte (case-sensitive); null values count nothing.
//
// For every batch with records it prints, to stdout or appended to
// `[plugin.wordcount] output=FILE`:
//   batch <id> words <n> distinct <d>
//   batch <word> <count>      (the top `top` words of this batch, default 10)
//   total <word> <count>      (the top `top` words since the start)
// ordered by count, then by word. The running totals live in memory: a hot
// reload hands them over (snapshot_state / restore_state); a restart starts
// from zero.

#include <sluice/plugin.hpp>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <map>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace {

constexpr std::string_view kStateMagic = "sluice-wordcount-state 1\n";

bool is_space(char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

/// The `n` entries with the highest counts, ties broken by word.
template <class Map>
std::vector<std::pair<std::string_view, uint64_t>> top_n(const Map &counts, std::size_t n) {
    std::vector<std::pair<std::string_view, uint64_t>> all(counts.begin(), counts.end());
    auto better = [](const auto &a, const auto &b) {
        return a.second != b.second ? a.second > b.second : a.first < b.first;
    };
    n = std::min(n, all.size());
    std::partial_sort(all.begin(), all.begin() + static_cast<std::ptrdiff_t>(n), all.end(), better);
    all.resize(n);
    return all;
}

/// Lifecycle: one per instance, made and destroyed on the control thread;
/// process and snapshot_state on the batch thread, restore_state on the
/// control thread before the instance sees a batch.
class WordCount {
  public:
    explicit WordCount(sluice::Host &host) : output_path_(host.config_or("output", "")) {
        int64_t top = host.config_int("top", 10);
        if (top < 0) {
            throw sluice::Fatal("wordcount: top=" + std::to_string(top) +
                                " is negative: set [plugin.wordcount] top to 0 or more");
        }
        top_ = static_cast<std::size_t>(top);
        if (output_path_.empty()) {
            out_ = stdout;
        } else if ((out_ = std::fopen(output_path_.c_str(), "a")) == nullptr) {
            throw sluice::Fatal("wordcount: cannot open output file '" + output_path_ +
                                "': " + std::strerror(errno) +
                                ": fix [plugin.wordcount] output or the directory");
        }
    }
    ~WordCount() {
        if (out_ != nullptr && out_ != stdout) std::fclose(out_);
    }

    // The keys of [plugin.wordcount]: any other key there is refused by the host.
    static std::vector<sluice::ConfigKey> config_keys() {
        return {{"top", sluice::ConfigType::integer, "10",
                 "how many words to print per batch and for the totals"},
                {"output", sluice::ConfigType::path, std::nullopt,
                 "append the counts to this file instead of stdout"}};
    }
    WordCount(const WordCount &) = delete;
    WordCount &operator=(const WordCount &) = delete;

    // Thread: batch thread.
    sluice::Status process(const sluice::Batch &batch) {
        // Keys are views into the batch's records: valid for this call only.
        std::unordered_map<std::string_view, uint64_t> counts;
        uint64_t words = 0;
        for (const sluice::Record &record : batch.records()) {
            auto value = record.value();
            if (!value) continue;
            std::size_t i = 0;
            const std::size_t n = value->size();
            while (i < n) {
                while (i < n && is_space((*value)[i])) ++i;
                std::size_t start = i;
                while (i < n && !is_space((*value)[i])) ++i;
                if (i > start) {
                    ++counts[value->substr(start, i - start)];
                    ++words;
                }
            }
        }
        for (const auto &[word, count] : counts) {
            auto it = totals_.find(word);
            if (it == totals_.end()) {
                totals_.emplace(std::string(word), count);
            } else {
                it->second += count;
            }
        }

        std::string text = "batch " + std::to_string(batch.id()) + " words " +
                           std::to_string(words) + " distinct " + std::to_string(counts.size()) +
                           "\n";
        for (const auto &[word, count] : top_n(counts, top_)) {
            text += "batch ";
            text.append(word);
            text += ' ' + std::to_string(count) + '\n';
        }
        for (const auto &[word, count] : top_n(totals_, top_)) {
            text += "total ";
            text.append(word);
            text += ' ' + std::to_string(count) + '\n';
        }
        if (std::fwrite(text.data(), 1, text.size(), out_) != text.size() ||
            std::fflush(out_) != 0) {
            throw sluice::Fatal("wordcount: cannot write to '" +
                                (output_path_.empty() ? std::string("stdout") : output_path_) +
                                "': " + std::strerror(errno));
        }
        return sluice::Status::ok;
    }

    // Thread: batch thread. Format: a magic line, then "<count> <word>\n" per
    // word (words hold no whitespace, so the line is unambiguous).
    sluice::Status snapshot_state(sluice::StateWriter &out) {
        std::string text(kStateMagic);
        for (const auto &[word, count] : totals_) {
            text += std::to_string(count) + ' ' + word + '\n';
        }
        out.write(text);
        return sluice::Status::ok;
    }

    // Thread: control thread.
    sluice::Status restore_state(std::string_view state) {
        if (state.substr(0, kStateMagic.size()) != kStateMagic) {
            throw sluice::Fatal(
                "wordcount: the state handed over is not wordcount state version 1: the old and "
                "new plugin versions are incompatible; restart instead of reloading");
        }
        std::map<std::string, uint64_t, std::less<>> totals;
        state.remove_prefix(kStateMagic.size());
        while (!state.empty()) {
            std::size_t eol = state.find('\n');
            std::size_t space = state.find(' ');
            if (eol == std::string_view::npos || space == std::string_view::npos || space > eol ||
                space == 0) {
                throw sluice::Fatal(
                    "wordcount: the state handed over is truncated or corrupt; "
                    "restart instead of reloading");
            }
            uint64_t count = 0;
            for (char c : state.substr(0, space)) {
                if (c < '0' || c > '9') {
                    throw sluice::Fatal(
                        "wordcount: the state handed over has a bad count; "
                        "restart instead of reloading");
                }
                count = count * 10 + static_cast<uint64_t>(c - '0');
            }
            totals[std::string(state.substr(space + 1, eol - space - 1))] += count;
            state.remove_prefix(eol + 1);
        }
        totals_ = std::move(totals);
        return sluice::Status::ok;
    }

  private:
    std::string output_path_;
    std::FILE *out_ = nullptr;
    std::size_t top_ = 10;
    std::map<std::string, uint64_t, std::less<>> totals_;  // ordered: stable snapshots
};

}  // namespace

SLUICE_PLUGIN(WordCount, "wordcount", "1.0.0",
              "Counts words in record values; prints the top words per batch and in total", 0);
