// TensorRT optimisation profiles: their canonical form (hashed into the engine-cache key), the
// recipes in engines/profiles.json that derive them from PixArt's aspect-ratio bin tables and
// the batch/sequence ranges users ask for, and the choice of a profile for a request.
//
// Three levels, from what a user asks to what TensorRT takes:
//   recipe (engines/profiles.json)  -> AxisRanges: min/opt/max per named axis (batch, height, width, sequence)
//   AxisRanges + model signature    -> OptimizationProfile: min/opt/max dims per input tensor
//   request shapes                  -> the first profile that covers them, or a new one made for them
// No TensorRT types here: this file builds and is tested on any machine.
#pragma once
#include <array>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "export_info.h"

namespace pixart::trt {

struct Range {
  int64_t min = 0, opt = 0, max = 0;
  bool contains(int64_t v) const { return v >= min && v <= max; }
};

using ShapeMap = std::map<std::string, std::vector<int64_t>>;  // input name -> dims
using AxisRanges = std::map<std::string, Range>;                // axis name -> range
using AxisValues = std::map<std::string, int64_t>;              // axis name -> value

struct InputRange {
  std::vector<int64_t> min, opt, max;
};

// One TensorRT optimisation profile: min/opt/max dims for every input of a model.
class OptimizationProfile {
 public:
  // Fails with kInvalidArgument on a name TensorRT or the canonical form cannot carry, ranks that
  // differ, or dims not ordered 1 <= min <= opt <= max.
  void set(const std::string& input, std::vector<int64_t> min, std::vector<int64_t> opt, std::vector<int64_t> max);
  const std::map<std::string, InputRange>& inputs() const { return inputs_; }
  // True if `shapes` names exactly this profile's inputs with the same ranks, every dim within
  // [min, max]; otherwise `why` (if given) says which input and dim is out.
  bool covers(const ShapeMap& shapes, std::string* why = nullptr) const;
  // "name=min/opt/max;..." in input-name order, dims joined by 'x', e.g.
  // "hidden_states=1x4x64x64/2x4x128x128/16x4x160x160;timestep=1/2/16".
  std::string canonical() const;
  // The inverse of canonical(); kInvalidArgument on malformed text.
  static OptimizationProfile parse(const std::string& text);
  bool operator==(const OptimizationProfile& o) const { return canonical() == o.canonical(); }

 private:
  std::map<std::string, InputRange> inputs_;
};

// A profile set (what one engine is built with) as text: canonicals joined by " | ".
std::string canonical_set(const std::vector<OptimizationProfile>& set);
std::vector<OptimizationProfile> parse_set(const std::string& text);

// Each input's dims: fixed dims as exported, dynamic ones from `ranges` (kInvalidArgument naming
// the input and axis when an axis has no range).
OptimizationProfile profile_from_axes(const std::vector<TensorSpec>& inputs, const AxisRanges& ranges);
// The axis values of concrete input shapes: kInvalidArgument for a missing or unknown input, a
// rank or fixed-dim mismatch, a dim < 1, or two inputs that disagree on an axis.
AxisValues bind_axes(const std::vector<TensorSpec>& inputs, const ShapeMap& shapes);
std::string describe(const AxisValues& v);  // "batch=2 height=128 ..."

// --- recipes (engines/profiles.json and the bin tables it names) ---

// An aspect-ratio bin table: key (the Python dict's string) -> [height, width] in pixels, in table order.
struct BinTable {
  std::string name;
  std::vector<std::pair<std::string, std::array<int64_t, 2>>> bins;
};

struct Recipe {
  std::string name;
  std::string bins;  // a table name, e.g. "ASPECT_RATIO_1024_BIN"
  // Inclusive ranges of bin keys (height/width ratios); one profile each, so no profile's
  // box (max height x max width) is far above the bins it serves.
  std::vector<std::pair<double, double>> aspect_ratio_groups;
  double opt_aspect_ratio = 1.0;      // each group's opt is its bin whose key is closest to this
  std::map<std::string, Range> batch;  // batch factors, e.g. prompts, images_per_prompt, cfg
  AxisRanges axes;                     // other axes taken as given, e.g. sequence
};

struct RecipeBook {
  std::string origin;                                            // the profiles.json path
  std::string batch_axis;                                        // "batch"
  std::array<std::string, 2> latent_axes;                        // {"height", "width"}
  int64_t vae_scale_factor = 0;                                  // pixels per latent cell
  std::map<std::string, std::vector<std::string>> batch_factors;  // model kind -> factor names
  std::map<std::string, BinTable> tables;
  std::vector<Recipe> recipes;
  // kInvalidArgument listing the recipes when there is no such name.
  const Recipe& recipe(const std::string& name) const;
};

// The bin tables file written by engines/make-profiles.cjs: {"tables": {"<name>": {"<key>": [h, w], ...}}}.
std::map<std::string, BinTable> load_bin_tables(const std::string& path);
// profiles.json; its "bins_file" is read relative to it. Fails with kInvalidArgument naming
// the file and field (a recipe naming an unknown table or factor, a range not min <= opt <= max,
// a bin not divisible by vae_scale_factor, an aspect-ratio group with no bin in it).
RecipeBook load_recipe_book(const std::string& profiles_json);

// The axis ranges for model `kind`, one per aspect-ratio group of the recipe. The batch axis is
// the product of the kind's factors (min of mins, opt of opts, max of maxes); the latent axes
// span the group's bins divided by vae_scale_factor; the recipe's other axes are copied.
std::vector<AxisRanges> recipe_axes(const RecipeBook& book, const Recipe& recipe, const std::string& kind);
// Those as profiles of the model's inputs, duplicates dropped (a text encoder has no latent axes,
// so its groups give one profile).
std::vector<OptimizationProfile> recipe_profiles(const RecipeBook& book, const Recipe& recipe,
                                                 const std::string& kind, const std::vector<TensorSpec>& inputs);

// --- choosing a profile for a request ---

struct ProfileChoice {
  int candidate = -1;  // index into the candidate sets, or -1: none covers, use `created`
  int profile = -1;    // the profile's index in that set (0 for a created one)
  OptimizationProfile created;  // a profile made to cover exactly this request (batch from 1 up)
  std::string reason;           // one line saying what was chosen and why, for the log
};

// The first profile of the first candidate set that covers `shapes`; when none does, a new
// profile: every axis fixed at the request's value except the batch axis, which runs from 1 to
// the request's batch. Never returns a profile that does not cover the request.
ProfileChoice select_profile(const std::vector<std::vector<OptimizationProfile>>& candidates,
                             const std::vector<TensorSpec>& inputs, const ShapeMap& shapes,
                             const std::string& batch_axis);

}  // namespace pixart::trt
