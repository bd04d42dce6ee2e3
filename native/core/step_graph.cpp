#include "step_graph.h"

#include "status.h"

namespace pixart {

void check_step_inputs(const std::vector<Shape>& recorded, const std::vector<Tensor>& inputs) {
  if (inputs.size() != recorded.size())
    fail(StatusCode::kInvalidArgument, "recorded step: " + std::to_string(inputs.size()) + " inputs given, it was recorded with " +
                                           std::to_string(recorded.size()));
  for (size_t i = 0; i < inputs.size(); i++) {
    if (!inputs[i].defined()) fail(StatusCode::kInvalidArgument, "recorded step: input " + std::to_string(i) + " is undefined");
    if (inputs[i].shape != recorded[i])
      fail(StatusCode::kInvalidArgument, "recorded step: input " + std::to_string(i) + " is " + shape_str(inputs[i].shape) +
                                             ", it was recorded as " + shape_str(recorded[i]));
  }
}

namespace {
class DirectStepGraph final : public StepGraph {
 public:
  DirectStepGraph(std::vector<Shape> shapes, StepFn fn) : shapes_(std::move(shapes)), fn_(std::move(fn)) {}
  std::vector<Tensor> run(const std::vector<Tensor>& inputs) override {
    check_step_inputs(shapes_, inputs);
    return fn_(inputs);
  }
  bool recorded() const override { return false; }

 private:
  std::vector<Shape> shapes_;
  StepFn fn_;
};
}  // namespace

std::unique_ptr<StepGraph> make_direct_step_graph(std::vector<Shape> input_shapes, StepFn fn) {
  return std::make_unique<DirectStepGraph>(std::move(input_shapes), std::move(fn));
}

}  // namespace pixart
