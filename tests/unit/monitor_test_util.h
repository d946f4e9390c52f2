// A CPU over RAM with page tables, in 64-bit mode, for driving Monitor::execute() in tests.
#pragma once

#include <gtest/gtest.h>

#include <string>

#include "frontend/system/mode.h"
#include "tests/unit/page_table_builder.h"
#include "ui/monitor.h"
#include "ui/monitor_text.h"

namespace umbra::test {

class MonitorFixture : public ::testing::Test {
 protected:
  MonitorFixture() : monitor_(pc_.cpu(), pc_.mem(), nullptr) {}

  // 4-level paging, 64-bit code at CPL `cpl`.
  PageTables& enter_long_mode(unsigned cpl = 0) {
    pc_.enter(PagingMode::k4Level);
    tables_ = std::make_unique<PageTables>(pc_, PagingMode::k4Level);
    CpuState& c = pc_.cpu();
    c.cr3 = tables_->cr3();
    c.cr0 |= cr0::WP;
    c.efer |= efer::NXE;
    c.seg[CS].attrib = 0xb | seg_attr::S | seg_attr::P | seg_attr::L | seg_attr::G |
                       static_cast<uint16_t>(cpl << 5);
    c.seg[CS].selector = static_cast<uint16_t>(cpl == 3 ? 0x33 : 0x08);
    c.seg[CS].limit = 0xffffffff;
    update_cpu_mode(c);
    return *tables_;
  }

  std::string run(const std::string& line) { return monitor_.execute(line); }

  PagingCpu pc_;
  std::unique_ptr<PageTables> tables_;
  Monitor monitor_;
};

// Whether `text` has a line containing every one of `parts`, in order.
inline bool has_line(const std::string& text, std::initializer_list<std::string> parts) {
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    std::string line = text.substr(start, end - start);
    size_t pos = 0;
    bool all = true;
    for (const std::string& p : parts) {
      pos = line.find(p, pos);
      if (pos == std::string::npos) {
        all = false;
        break;
      }
      pos += p.size();
    }
    if (all) return true;
    start = end + 1;
  }
  return false;
}

}  // namespace umbra::test
