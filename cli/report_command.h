// report_command.h - `crm report`, `crm forecast` and `crm import hillstrom`, over the public API only
// (include/crm/report.h, include/crm/datasets.h).
#pragma once

namespace crm::cli {

int cmd_report(int argc, char** argv);
// `crm forecast`: a history replayed, shifted in time, against a program (include/crm/forecast.h).
int cmd_forecast(int argc, char** argv);
// `crm import hillstrom ...` (argv after the dataset's name).
int cmd_import_hillstrom(int argc, char** argv);

}  // namespace crm::cli
