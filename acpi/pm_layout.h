// The ACPI fixed-hardware register block Umbra's PM device (acpi/pm.h) implements and the FADT
// (acpi/tables.h) describes: one set of I/O port offsets from a base port, shared by both so they
// cannot disagree. ACPI 6.x section 4.8 (fixed hardware registers) and 5.2.9 (FADT).
//
//   base + 0x00  PM1a_EVT_BLK  4 bytes: PM1 status (2, write 1 to clear), PM1 enable (2)
//   base + 0x04  PM1a_CNT_BLK  2 bytes: PM1 control (SCI_EN, SLP_TYP, SLP_EN)
//   base + 0x08  PM_TMR_BLK    4 bytes: PM timer, 32 bits (FADT flag TMR_VAL_EXT), read-only
//   base + 0x20  GPE0_BLK      8 bytes: GPE0 status (4, write 1 to clear), GPE0 enable (4)
#pragma once

#include <cstdint>

namespace umbra::acpi {

constexpr uint16_t kDefaultPmBase = 0x600;

constexpr uint16_t kPm1EvtOffset = 0x00;
constexpr uint8_t kPm1EvtLen = 4;
constexpr uint16_t kPm1CntOffset = 0x04;
constexpr uint8_t kPm1CntLen = 2;
constexpr uint16_t kPmTmrOffset = 0x08;
constexpr uint8_t kPmTmrLen = 4;
constexpr uint16_t kGpe0Offset = 0x20;
constexpr uint8_t kGpe0Len = 8;  // half status, half enable: GPE0 bits 0..31
constexpr unsigned kGpe0Count = kGpe0Len / 2 * 8;

// PM1 status / enable bits (4.8.4.1.1, 4.8.4.1.2).
constexpr uint16_t kPm1TmrSts = 1u << 0;  // TMR_STS / TMR_EN
constexpr uint16_t kPm1BmSts = 1u << 4;
constexpr uint16_t kPm1GblSts = 1u << 5;  // GBL_STS / GBL_EN
constexpr uint16_t kPm1PwrbtnSts = 1u << 8;
constexpr uint16_t kPm1SlpbtnSts = 1u << 9;
constexpr uint16_t kPm1RtcSts = 1u << 10;
constexpr uint16_t kPm1PciexpWakeSts = 1u << 14;  // in the enable register: PCIEXP_WAKE_DIS
constexpr uint16_t kPm1WakSts = 1u << 15;

// PM1 control bits (4.8.4.2.1).
constexpr uint16_t kPm1CntSciEn = 1u << 0;
constexpr uint16_t kPm1CntBmRld = 1u << 1;
constexpr uint16_t kPm1CntGblRls = 1u << 2;
constexpr unsigned kPm1CntSlpTypShift = 10;
constexpr uint16_t kPm1CntSlpTypMask = 7u << kPm1CntSlpTypShift;
constexpr uint16_t kPm1CntSlpEn = 1u << 13;

// The SLP_TYP value the DSDT's \_S5 package names and the PM device treats as soft-off. The
// value is ours to choose (the OS only copies it from \_S5 into SLP_TYP); 7 is what Intel
// chipsets use for S5, which keeps a reader of a register dump oriented.
constexpr unsigned kSlpTypS5 = 7;

// PM timer frequency (4.8.3.3): 3.579545 MHz.
constexpr uint64_t kPmTimerHz = 3579545;

}  // namespace umbra::acpi
