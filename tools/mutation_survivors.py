"""Surviving mutants that no test can or should kill, and why.

Read by ``tools/mutation.py``: a survivor is matched on its module and on the
source line before and after the mutation (as cosmic-ray writes them, stripped),
so an entry still applies when the code around it moves. Add one only after
trying to write the test that kills the mutant; say why there is none.
"""

# Reasons that recur.
NONNEG_SIZE = "array sizes are never negative, so `<= 0` is `== 0`"
SMALL_INT = ("`is not` compares identity; the values are numbers of dimensions "
             "(1 to 3), which CPython caches, so it equals `!=` here")
NEGATIVE_RESHAPE = ("NumPy takes any negative size in reshape as the one unknown "
                    "dimension, so -2 and ~1 (= -2) mean the same as -1")
STEP_IS_NONNEG = "the loop counter `step` starts at 0, so `<= 0` is `== 0`"
ONE_D_LAST_AXIS = "the array is 1-D here (checked above), so axis -1 is axis 0"
FOUR_D = ("the batch is 4-D (checked above), so shape[2:] and shape[+2:] are "
          "shape[-2:]")
INTERNED = ("`is` compares identity; the mode strings are literals, which "
            "CPython interns, so it equals `==` for every value the code is given")
VALID_STRINGS = ("compares strings by order; for the values the parameter "
                 "accepts it is true exactly when `==` is")
KEYWORD_ONLY = ("every caller passes these by keyword, so keyword-only (`*`) and "
                "positional-or-keyword (`/`) take the same calls")
LABELED_CHECK = ('if isinstance(setting, str) and setting {} "labeled" and codes '
                 'is None:')
RING = ("the mean of a ring buffer does not depend on the slot it starts at or "
        "the direction it turns: each slot is written once per window steps")
NO_WEIGHT = ("the unlabeled weight is never negative (validated, and ramped up "
             "from 0), and at 0 the shortcut and the full formula give the same "
             "loss and gradient: loss_x + 0 x L_u")
LABELED_FIRST = ("a batch holds its n labeled rows and then the unlabeled ones, so "
                 "len(logits) < n never happens")
ALPHA_NONNEG = "mixup_alpha is validated to be >= 0, so `!= 0` is `> 0`"
CLASS_CALL = ("auto_settings is called on the class (classifier.py: "
              "method_class(...).auto_settings(shape)), where a plain function "
              "takes the same argument")
ACTIVE = ("the estimator reads `not method.active`; a bound method is truthy, "
          "as True is, so the property and the method give the same answer")
TWO_OR_FOUR_D = ("the inputs are vectors (2-D) or image batches (4-D): the "
                 "estimator turns (N, H, W) into (N, 1, H, W) before training")
SELF_MIX = ("mixing one labeled row with itself is the identity (lam x + (1 - "
            "lam) x = x, and the same for its target): the mutant only draws a "
            "lam and a permutation more from the fit's generators")
BOOL_AND = "`*` of two boolean tensors is their logical and, as `&` is"
EXACT_DRAW = ("differs from the original only when a uniform draw equals the "
              "threshold exactly (probability about 2**-24 per draw)")

EXACT_DRAW64 = ("differs from the original only when a float64 uniform draw equals "
                "a cumulative probability exactly (about 2**-53 per draw)")
COPY = "a copy instead of a view: the same values, and nothing writes to them"
NONNEG_COUNT = "`remaining` counts points, never negative, so `!= 0` is `> 0`"
SEED_RANGE = ("the k-means seed is one draw from random_state's stream: any range "
              "of seeds gives a valid, reproducible k-means, and which seed a "
              "random_state maps to is not specified")
ONE_PICK = ("with one pick the pair matrix is 1 x 1 and its only cell is set to "
            "inf, so it changes no distance")
CLIPPED = ("both distance matrices come from scikit-learn, which clips squared "
           "distances at 0: d is never negative")
ROUNDED_NEGATIVE = ("d is below 0 only by rounding (about 1e-7 of |g|^2, for a "
                    "duplicate of a chosen point); as a D^2 weight that is as "
                    "good as 0, and d2_draw redraws a pick whose weight is not > 0")
STEP_RANGE = "step runs from 0 to k - 1, so `step + 1 != k` is `step + 1 < k`"
KMEANS_EFFORT = ("k-means' restarts and mini-batch size (as in TypiClust's code) "
                 "change how well it clusters, not what TypiClust does with the "
                 "clusters, which the tests check with k-means replaced")
LIMIT_ZERO = ("tools/mutation.py runs the tests with one BLAS and OpenMP thread, "
              "and threadpoolctl leaves a pool alone at a limit of 0, so it stays "
              "at 1; with more threads the one-thread tests of fit_kmeans and "
              "_typicality fail on it")
INVERT_ORDER = "~x is -x - 1, which sorts as -x does"
BOOL_FLOORDIV = ("floor division of booleans gives 1 for 1 // 1 and 0 for every "
                 "other pair (1 // 0 with a RuntimeWarning), as `&` does")
SAME_MEMBERS = ("a cluster of exactly max_cluster_points 'subsampled' to that size "
                "keeps all its points, sorted as before; only the random stream's "
                "later draws move")
ONE_INPUT = "a dropout layer's forward takes one input, so inputs[-1] is inputs[0]"
CHANNEL_FLAT = ("with one non-batch dimension the channel mask, (C,) + (1,) * 0, "
                "is the element mask (C,)")
SAME_SET = ("with exactly n_candidates kept, partitioning keeps them all (sorted "
            "back into pool order): the same set")
KTH_N = ("kth = n_candidates also puts the n_candidates largest scores first: "
         "argpartition orders every element before kth")
KTH_NEXT = ("kth = n_candidates - 2 guarantees only n_candidates - 1 of the top "
            "scores; NumPy's introselect leaves the next one in place as well (300 "
            "random trials of 600 to 4,000 scores: no difference), so no test tells "
            "them apart, and the code keeps the documented guarantee")
DROPOUT_P = ("torch's dropout layers refuse p outside [0, 1], so `!= 0` is "
             "`> 0`")
CHUNK = ("the block size only bounds memory: every candidate is scored alike in "
         "any blocks (tests compare blocks of 1 and 3 with one block), and these "
         "sizes stay at least 1 for any joint")

EXTRA_AXES = ("each mutated count is at least x.ndim - 1 for any x.ndim, so the "
              "weights only gain leading axes of size 1, and the mixes' reshape "
              "to (L * A * b, ...) reads the same values in the same order; a "
              "count one short fails (tests on 3-D samples and on images)")
RATE_NONNEG = ("a flip rate is a count of flips over (anchor, alpha) pairs, never "
               "negative, so `!= 0` is `> 0`")
SHORTLIST_SIZE = ("the shortlist holds min(pool, candidates_per_instance * "
                  "n_select) >= n_select points (n_select is at most the pool's "
                  "size), so `<=` is `==`")
PRUNE_NONE = ("pruning at most max_candidates candidates to max_candidates keeps "
              "them all (top_k caps k at their number; np.sort restores pool "
              "order); only top_k's tie-break permutation, drawn from the query's "
              "generator, moves the draws after it (the k-means seed, the random "
              "fill): another valid draw, which no contract fixes")
BOOL_AND_ARRAYS = "`*` of two boolean arrays is their logical and, as `&` is"
SQRT_ORDER = ("the point nearest a centre is the same under squared and plain "
              "distances: the square root is increasing")

SURVIVORS = [
    # --- skmixal/scoring.py ---------------------------------------------------
    {"module": "skmixal/scoring.py",
     "before": "if proba.ndim != ndim:",
     "after": "if proba.ndim is not ndim:",
     "why": SMALL_INT},
    {"module": "skmixal/scoring.py",
     "before": "if proba.shape[-1] == 0:",
     "after": "if proba.shape[-1] <= 0:",
     "why": NONNEG_SIZE},
    {"module": "skmixal/scoring.py",
     "before": "if ndim == 3 and proba.shape[0] == 0:",
     "after": "if ndim >= 3 and proba.shape[0] == 0:",
     "why": "_check_proba is only ever called with ndim 2 or 3"},
    {"module": "skmixal/scoring.py",
     "before": "if ndim == 3 and proba.shape[0] == 0:",
     "after": "if ndim == 3 and proba.shape[0] <= 0:",
     "why": NONNEG_SIZE},
    {"module": "skmixal/scoring.py",
     "before": "if proba.shape[1] == 1:",
     "after": "if proba.shape[1] <= 1:",
     "why": "zero columns are rejected by _check_proba before this line"},
    {"module": "skmixal/scoring.py",
     "before": "return 1.0 - proba[:, 0]",
     "after": "return 1.0 - proba[:, -1]",
     "why": "this branch has exactly one column: 0 and -1 are the same column"},
    {"module": "skmixal/scoring.py",
     "before": "top2 = -np.partition(-proba, 1, axis=1)[:, :2]  "
               "# (n_samples, 2), descending",
     "after": "top2 = -np.partition(-proba, 1, axis=1)[:, : 3]  "
              "# (n_samples, 2), descending",
     "why": "only columns 0 and 1 of top2 are read; a third changes nothing"},
    {"module": "skmixal/scoring.py",
     "before": "return (mc_joint[:, :, None] * mc_proba_selected[:, None, :])"
               ".reshape(n_mc, -1)",
     "after": "return (mc_joint[:, :, None] * mc_proba_selected[:, None, :])"
              ".reshape(n_mc, - 2)",
     "why": NEGATIVE_RESHAPE},
    {"module": "skmixal/scoring.py",
     "before": "return (mc_joint[:, :, None] * mc_proba_selected[:, None, :])"
               ".reshape(n_mc, -1)",
     "after": "return (mc_joint[:, :, None] * mc_proba_selected[:, None, :])"
              ".reshape(n_mc, ~1)",
     "why": NEGATIVE_RESHAPE},
    # --- skmixal/selection.py -------------------------------------------------
    {"module": "skmixal/selection.py",
     "before": "if X.shape[0] == 0:",
     "after": "if X.shape[0] <= 0:",
     "why": NONNEG_SIZE},
    {"module": "skmixal/selection.py",
     "before": "if X.shape[1] == 0:",
     "after": "if X.shape[1] <= 0:",
     "why": NONNEG_SIZE},
    {"module": "skmixal/selection.py",
     "before": "if scores.shape[0] == 0:",
     "after": "if scores.shape[ -1] == 0:",
     "why": ONE_D_LAST_AXIS},
    {"module": "skmixal/selection.py",
     "before": "if scores.shape[0] == 0:",
     "after": "if scores.shape[0] <= 0:",
     "why": NONNEG_SIZE},
    {"module": "skmixal/selection.py",
     "before": "n = scores.shape[0]",
     "after": "n = scores.shape[ -1]",
     "why": ONE_D_LAST_AXIS},
    {"module": "skmixal/selection.py",
     "before": "kth = np.partition(keys, k - 1)[k - 1]",
     "after": "kth = np.partition(keys, k - 2)[k - 1]",
     "why": "partitioning at k - 2 leaves at position k - 1 a key no smaller "
            "than the k-th smallest, so the candidate list only grows; the "
            "stable sort of the candidates then gives the same k indices"},
    {"module": "skmixal/selection.py",
     "before": "return np.maximum(d, 0.0).astype(np.float32)",
     "after": "return np.maximum(d, -1.0).astype(np.float32)",
     "why": "scikit-learn's pairwise_distances_argmin_min already clips its "
            "squared distances at 0 (checked on near-duplicates at norm 1000: "
            "min exactly 0.0); the clip here is a second guard"},
    {"module": "skmixal/selection.py",
     "before": "if not total > 0:",
     "after": "if not total != 0:",
     "why": "total is a sum of squared distances, never negative (nor NaN: "
            "embeddings are checked finite), so `> 0` is `!= 0`"},
    {"module": "skmixal/selection.py",
     "before": "if not min_dist[pick] > 0:  # ...unless u rounded onto the end "
               "of the range",
     "after": "if not min_dist[pick] != 0:  # ...unless u rounded onto the end "
              "of the range",
     "why": "min_dist holds squared distances clipped at 0: never negative"},
    {"module": "skmixal/selection.py",
     "before": "pick = int(np.flatnonzero(~chosen & (min_dist > 0))[-1])",
     "after": "pick = int(np.flatnonzero(~chosen & (min_dist != 0))[-1])",
     "why": "min_dist holds squared distances clipped at 0: never negative"},
    {"module": "skmixal/selection.py",
     "before": "pick = int(np.flatnonzero(~chosen & (min_dist > 0))[-1])",
     "after": "pick = int(np.flatnonzero(~chosen * (min_dist > 0))[-1])",
     "why": "on boolean arrays `*` is logical and, the same as `&`"},
    {"module": "skmixal/selection.py",
     "before": 'if labeled.ndim == 1 and (labeled.dtype.kind in "iu" or '
               "labeled.size == 0):",
     "after": 'if labeled.ndim == 1 and (labeled.dtype.kind in "iu" or '
              "labeled.size <= 0):",
     "why": NONNEG_SIZE},
    {"module": "skmixal/selection.py",
     "before": "if labeled.shape[0] != n:",
     "after": "if labeled.shape[ -1] != n:",
     "why": "a 1-D boolean mask here: axis -1 is axis 0"},
    {"module": "skmixal/selection.py",
     "before": 'f"{labeled.shape[0]}."',
     "after": 'f"{labeled.shape[ -1]}."',
     "why": "a 1-D boolean mask here: axis -1 is axis 0"},
    {"module": "skmixal/selection.py",
     "before": "if labeled.shape[0] == 0:",
     "after": "if labeled.shape[0] <= 0:",
     "why": NONNEG_SIZE},
    {"module": "skmixal/selection.py",
     "before": "if k == 0:",
     "after": "if k == -1:",
     "why": "an early return: with k = 0 the code below selects nothing and "
            "returns the same empty int64 array (k is never negative)"},
    {"module": "skmixal/selection.py",
     "before": "if k == 0:",
     "after": "if k < 0:",
     "why": "an early return: with k = 0 the code below selects nothing and "
            "returns the same empty int64 array (k is never negative)"},
    {"module": "skmixal/selection.py",
     "before": "if k == 0:",
     "after": "if k <= 0:",
     "why": "k = min(k, n_unlabeled) is never negative"},
    {"module": "skmixal/selection.py",
     "before": "if step == 0 and centers is None:",
     "after": "if step <= 0 and centers is None:",
     "why": STEP_IS_NONNEG},
    {"module": "skmixal/selection.py",
     "before": "pick = int(rng.randint(n)) if step == 0 else "
               "d2_draw(min_dist, chosen, rng)",
     "after": "pick = int(rng.randint(n)) if step <= 0 else "
              "d2_draw(min_dist, chosen, rng)",
     "why": STEP_IS_NONNEG},
    # --- skmixal/mixup.py and skmixal/augment.py -------------------------------
    {"module": "skmixal/mixup.py",
     "before": 'height, width = x.shape[-2:]',
     "after": 'height, width = x.shape[2:]',
     "why": FOUR_D},
    {"module": "skmixal/mixup.py",
     "before": 'height, width = x.shape[-2:]',
     "after": 'height, width = x.shape[+2:]',
     "why": FOUR_D},
    {"module": "skmixal/mixup.py",
     "before": 'def mix_batch(x, y, *, sampler, mode="input", prob=1.0, rng=None, '
               'generator=None):',
     "after": 'def mix_batch(x, y, *, sampler, mode="input", prob= 2.0, rng=None, '
              'generator=None):',
     "why": "any prob >= 1 mixes every batch without a draw, so a default of 2 is a "
            "default of 1"},
    {"module": "skmixal/mixup.py",
     "before": 'def mix_batch(x, y, *, sampler, mode="input", prob=1.0, rng=None, '
               'generator=None):',
     "after": 'def mix_batch(x, y, /, sampler, mode="input", prob=1.0, rng=None, '
              'generator=None):',
     "why": KEYWORD_ONLY},
    {"module": "skmixal/mixup.py",
     "before": 'if prob < 1.0:',
     "after": 'if prob != 1.0:',
     "why": "prob is mixup_prob, checked to lie in [0, 1]: for those values `!= 1` is "
            "`< 1`"},
    {"module": "skmixal/mixup.py",
     "before": 'if draw >= prob:',
     "after": 'if draw > prob:',
     "why": EXACT_DRAW},
    {"module": "skmixal/mixup.py",
     "before": 'if mode == "cutmix":',
     "after": 'if mode is "cutmix":',
     "why": INTERNED},
    {"module": "skmixal/mixup.py",
     "before": 'if mode == "cutmix":',
     "after": 'if mode <= "cutmix":',
     "why": VALID_STRINGS + " ('input', 'cutmix')"},
    {"module": "skmixal/mixup.py",
     "before": 'return x, MixedTarget(y, torch.index_select(y, 0, perm), lam)',
     "after": 'return x, MixedTarget(y, torch.index_select(y, -1, perm), lam)',
     "why": ONE_D_LAST_AXIS},
    {"module": "skmixal/augment.py",
     "before": 'if padding == "reflect":',
     "after": 'if padding is "reflect":',
     "why": INTERNED},
    {"module": "skmixal/augment.py",
     "before": 'if padding == "reflect":',
     "after": 'if padding <= "reflect":',
     "why": VALID_STRINGS + " ('zeros', 'reflect')"},
    {"module": "skmixal/augment.py",
     "before": 'padded = F.pad(x, (s, s, s, s), mode="reflect" if padding == "reflect"',
     "after": 'padded = F.pad(x, (s, s, s, s), mode="reflect" if padding is "reflect"',
     "why": INTERNED},
    {"module": "skmixal/augment.py",
     "before": 'padded = F.pad(x, (s, s, s, s), mode="reflect" if padding == "reflect"',
     "after": 'padded = F.pad(x, (s, s, s, s), mode="reflect" if padding <= "reflect"',
     "why": VALID_STRINGS + " ('zeros', 'reflect')"},
    {"module": "skmixal/augment.py",
     "before": 'if s <= 0 or n == 0:',
     "after": 'if s <= -1 or n == 0:',
     "why": "at s = 0 the general path draws offsets in [0, 0] and pads by 0: the same "
            "copy"},
    {"module": "skmixal/augment.py",
     "before": 'if s <= 0 or n == 0:',
     "after": 'if s <= 0 or n == -1:',
     "why": "an empty batch through the general path is the same empty batch"},
    {"module": "skmixal/augment.py",
     "before": 'if s <= 0 or n == 0:',
     "after": 'if s <= 0 or n < 0:',
     "why": "an empty batch through the general path is the same empty batch"},
    {"module": "skmixal/augment.py",
     "before": 'if s <= 0 or n == 0:',
     "after": 'if s <= 0 or n <= 0:',
     "why": "an empty batch through the general path is the same empty batch"},
    {"module": "skmixal/augment.py",
     "before": 'if s <= 0 or n == 0:',
     "after": 'if s < 0 or n == 0:',
     "why": "at s = 0 the general path draws offsets in [0, 0] and pads by 0: the same "
            "copy"},
    {"module": "skmixal/augment.py",
     "before": 'offsets = torch.randint(0, 2 * s + 1, (2, n), generator=generator,',
     "after": 'offsets = torch.randint(0, 2 * s | 1, (2, n), generator=generator,',
     "why": "2 * s is even, so setting or flipping its lowest bit adds 1"},
    {"module": "skmixal/augment.py",
     "before": 'offsets = torch.randint(0, 2 * s + 1, (2, n), generator=generator,',
     "after": 'offsets = torch.randint(0, 2 * s ^ 1, (2, n), generator=generator,',
     "why": "2 * s is even, so setting or flipping its lowest bit adds 1"},
    {"module": "skmixal/augment.py",
     "before": 'mask = torch.rand(len(x), generator=generator, device=x.device) < 0.5',
     "after": 'mask = torch.rand(len(x), generator=generator, device=x.device) <= 0.5',
     "why": EXACT_DRAW},
    {"module": "skmixal/augment.py",
     "before": 'scale = x.std(dim=0, keepdim=True) * std',
     "after": 'scale = x.std(dim=0, keepdim=False) * std',
     "why": "broadcasting aligns trailing axes: the std without its leading axis of 1 "
            "scales the same features"},
    {"module": "skmixal/augment.py",
     "before": 'if kind == "noise":',
     "after": 'if kind is "noise":',
     "why": INTERNED},
    {"module": "skmixal/augment.py",
     "before": 'if kind == "crop+flip":',
     "after": 'if kind <= "crop+flip":',
     "why": VALID_STRINGS + " (the image kinds 'shift', 'shift+flip', 'crop+flip')"},
    {"module": "skmixal/augment.py",
     "before": 'out = shift(x, max(1, min(x.shape[-2:]) // 8), generator=generator,',
     "after": 'out = shift(x, max(1, min(x.shape[-2:]) / 8), generator=generator,',
     "why": "shift() takes int(max_shift), which floors a positive quotient as // "
            "does"},
    {"module": "skmixal/augment.py",
     "before": 'out = shift(x, max(1, min(x.shape[-2:]) // 8), generator=generator,',
     "after": 'out = shift(x, max(1, min(x.shape[2:]) // 8), generator=generator,',
     "why": FOUR_D},
    {"module": "skmixal/augment.py",
     "before": 'out = shift(x, max(1, min(x.shape[-2:]) // 8), generator=generator,',
     "after": 'out = shift(x, max(1, min(x.shape[+2:]) // 8), generator=generator,',
     "why": FOUR_D},
    {"module": "skmixal/augment.py",
     "before": 'out = shift(x, default_shift(*x.shape[-2:]), generator=generator)',
     "after": 'out = shift(x, default_shift(*x.shape[2:]), generator=generator)',
     "why": FOUR_D},
    {"module": "skmixal/augment.py",
     "before": 'out = shift(x, default_shift(*x.shape[-2:]), generator=generator)',
     "after": 'out = shift(x, default_shift(*x.shape[+2:]), generator=generator)',
     "why": FOUR_D},
    # --- skmixal/semi_supervised.py --------------------------------------------
    {"module": "skmixal/semi_supervised.py",
     "before": 'self.position = 0',
     "after": 'self.position = 1',
     "why": RING},
    {"module": "skmixal/semi_supervised.py",
     "before": 'self.position = 0',
     "after": 'self.position = -1',
     "why": RING},
    {"module": "skmixal/semi_supervised.py",
     "before": 'self.position = (self.position + 1) % self.window',
     "after": 'self.position = (self.position - 1) % self.window',
     "why": RING},
    {"module": "skmixal/semi_supervised.py",
     "before": 'if isinstance(setting, str) and setting == "uniform":',
     "after": 'if isinstance(setting, str) and setting is "uniform":',
     "why": INTERNED},
    {"module": "skmixal/semi_supervised.py",
     "before": 'if isinstance(setting, str) and setting == "uniform":',
     "after": 'if isinstance(setting, str) and setting >= "uniform":',
     "why": VALID_STRINGS},
    {"module": "skmixal/semi_supervised.py",
     "before": 'if isinstance(setting, str) and setting == "labeled":',
     "after": 'if isinstance(setting, str) and setting is "labeled":',
     "why": INTERNED},
    {"module": "skmixal/semi_supervised.py",
     "before": 'if isinstance(setting, str) and setting == "labeled":',
     "after": 'if isinstance(setting, str) and setting >= "labeled":',
     "why": VALID_STRINGS},
    {"module": "skmixal/semi_supervised.py",
     "before": 'if isinstance(setting, str) and setting == "labeled":',
     "after": 'if isinstance(setting, str) and setting <= "labeled":',
     "why": VALID_STRINGS},
    {"module": "skmixal/semi_supervised.py",
     "before": 'if total <= 0:',
     "after": 'if total == 0:',
     "why": "total is a number of steps, never negative"},
    {"module": "skmixal/semi_supervised.py",
     "before": LABELED_CHECK.format("=="),
     "after": LABELED_CHECK.format('is'),
     "why": INTERNED},
    {"module": "skmixal/semi_supervised.py",
     "before": LABELED_CHECK.format("=="),
     "after": LABELED_CHECK.format('>='),
     "why": VALID_STRINGS},
    {"module": "skmixal/semi_supervised.py",
     "before": LABELED_CHECK.format("=="),
     "after": LABELED_CHECK.format('<='),
     "why": VALID_STRINGS},
    # --- skmixal/training/fixmatch.py and mixmatch.py: what both methods share --
    *({"module": module, "before": before, "after": after, "why": why}
      for module in ("skmixal/training/fixmatch.py", "skmixal/training/mixmatch.py")
      for before, after, why in [
          ("def loss(cls, logits, target, criterion, *, soft_targets):",
           "def loss(cls, logits, target, criterion, /, soft_targets):",
           KEYWORD_ONLY),
          ("self.sampler = _BetaSampler(alpha, context.rng()) if alpha > 0 else None",
           "self.sampler = _BetaSampler(alpha, context.rng()) if alpha != 0 else "
           "None", ALPHA_NONNEG),
          ("@staticmethod", "", CLASS_CALL),
          ("@property", "", ACTIVE),
          ("if len(logits) == n or target.weight == 0:",
           "if len(logits) <= n or target.weight == 0:", LABELED_FIRST)]),
    # --- skmixal/training/fixmatch.py -----------------------------------------
    {"module": "skmixal/training/fixmatch.py",
     "before": "if isinstance(threshold, torch.Tensor) and threshold.ndim == 1:",
     "after": "if isinstance(threshold, torch.Tensor) and threshold.ndim >= 1:",
     "why": "thresholds are numbers, 0-d tensors or one per class (1-D): never 2-D"},
    {"module": "skmixal/training/fixmatch.py",
     "before": "threshold = torch.index_select(threshold, 0, labels)",
     "after": "threshold = torch.index_select(threshold, -1, labels)",
     "why": "the threshold is 1-D here (checked above), so dim -1 is dim 0"},
    *({"module": "skmixal/training/fixmatch.py",
       "before": "if len(logits) == n or target.weight == 0:",
       "after": after, "why": NO_WEIGHT}
      for after in ("if len(logits) == n or target.weight == -1:",
                    "if len(logits) == n or target.weight <= 0:",
                    "if len(logits) == n or target.weight < 0:",
                    "if len(logits) == n or target.weight == 1:")),
    {"module": "skmixal/training/fixmatch.py",
     "before": "def __init__(self, context, *, alpha, augment, threshold, weight, "
               "rampup,",
     "after": "def __init__(self, context, /, alpha, augment, threshold, weight, "
              "rampup,",
     "why": KEYWORD_ONLY},
    {"module": "skmixal/training/fixmatch.py",
     "before": "if batch.ndim != 4:", "after": "if batch.ndim < 4:",
     "why": TWO_OR_FOUR_D},
    *({"module": "skmixal/training/fixmatch.py",
       "before": "if self.sampler is not None and len(x) > 1:",
       "after": f"if self.sampler is not None and {after}:", "why": SELF_MIX}
      for after in ("len(x) >= 1", "len(x) != 1", "len(x) > 0")),
    # --- skmixal/training/mixmatch.py -----------------------------------------
    {"module": "skmixal/training/mixmatch.py",
     "before": 'if mode == "cutmix":', "after": 'if mode is "cutmix":',
     "why": INTERNED},
    {"module": "skmixal/training/mixmatch.py",
     "before": 'if mode == "cutmix":', "after": 'if mode <= "cutmix":',
     "why": VALID_STRINGS + " ('input', 'cutmix')"},
    *({"module": "skmixal/training/mixmatch.py",
       "before": "if len(logits) == n or target.weight == 0:",
       "after": after, "why": NO_WEIGHT}
      for after in ("if len(logits) == n or target.weight == -1:",
                    "if len(logits) == n or target.weight <= 0:",
                    "if len(logits) == n or target.weight < 0:")),
    {"module": "skmixal/training/mixmatch.py",
     "before": "def __init__(self, context, *, alpha, mode, prob, augment, weight, "
               "rampup,",
     "after": "def __init__(self, context, /, alpha, mode, prob, augment, weight, "
              "rampup,",
     "why": KEYWORD_ONLY},
    {"module": "skmixal/training/mixmatch.py",
     "before": "if self.prob < 1.0 and ctx.rng().random() >= self.prob:",
     "after": "if self.prob != 1.0 and ctx.rng().random() >= self.prob:",
     "why": "mixup_prob is validated to be at most 1, so `!= 1.0` is `< 1.0`"},
    *({"module": "skmixal/training/mixmatch.py",
       "before": "if self.prob < 1.0 and ctx.rng().random() >= self.prob:",
       "after": f"if self.prob {op} and ctx.rng().random() >= self.prob:",
       "why": "at mixup_prob 1 a uniform draw in [0, 1) is never >= 1, so every "
              "batch still mixes; the mutant only takes one more number from the "
              "fit's generator per batch, which shifts which lam values are drawn "
              "but not their distribution"}
      for op in ("<= 1.0", "< 2.0")),
    {"module": "skmixal/training/mixmatch.py",
     "before": "if self.prob < 1.0 and ctx.rng().random() >= self.prob:",
     "after": "if self.prob < 1.0 and ctx.rng().random() > self.prob:",
     "why": "differs only when a uniform float64 draw equals mixup_prob exactly "
            "(probability about 2**-53 per batch)"},
    # --- skmixal/randaugment.py ------------------------------------------------
    {"module": "skmixal/randaugment.py",
     "before": "levels = torch.round(z.reshape(n * c, h * w) * 255).long()"
               ".clamp_(0, 255)",
     "after": "levels = torch.round(z.reshape(n * c, h * w) * 255).long()"
              ".clamp_( -1, 255)",
     "why": "z is in [0, 1] here (the data's range mapped to [0, 1], and every "
            "operation's output clamped), so round(255 z) is never below 0"},
    {"module": "skmixal/randaugment.py",
     "before": "if size <= 0:", "after": "if size == 0:",
     "why": "size is round(cutout_share x side), and the share is never negative "
            "(FixMatch passes the default 0.5)"},
    # --- skmixal/training/guard.py ---------------------------------------------
    {"module": "skmixal/training/guard.py",
     "before": "if total <= 0:", "after": "if total == 0:",
     "why": "the counts are bincounts of predictions, never negative"},
    {"module": "skmixal/training/guard.py",
     "before": "shares = counts[counts > 0] / total",
     "after": "shares = counts[counts != 0] / total",
     "why": "the counts are bincounts of predictions, never negative"},
    {"module": "skmixal/training/guard.py",
     "before": "rows = np.sort(np.random.default_rng(0).permutation(len(X))[:4096])",
     "after": "rows = np.sort(np.random.default_rng( 1).permutation(len(X))[:4096])",
     "why": "any fixed random subset of 4,096 rows reads the fit equally well; the "
            "seed only makes the report reproducible (and up to 4,096 rows it "
            "takes them all)"},
    {"module": "skmixal/training/mixmatch.py",
     "before": "def mixmatch_batch(x, y, u, *, n_classes, guess, n_views, "
               "temperature, sampler,",
     "after": "def mixmatch_batch(x, y, u, /, n_classes, guess, n_views, "
              "temperature, sampler,",
     "why": KEYWORD_ONLY},
    {"module": "skmixal/randaugment.py",
     "before": "return torch.where(span > 0, (z - lo) / span.clamp_min(1e-12), z)",
     "after": "return torch.where(span != 0, (z - lo) / span.clamp_min(1e-12), z)",
     "why": "span is a maximum minus a minimum, never negative"},
    {"module": "skmixal/randaugment.py",
     "before": "return torch.where(span > 0, (z - lo) / span.clamp_min(1e-12), z)",
     "after": "return torch.where(span > 0, (z - lo) / span.clamp_min( "
              "-0.999999999999), z)",
     "why": "the quotient is kept only where span > 0; the clamp guards the 0 / 0 "
            "of flat channels, whose result torch.where discards either way"},
    *({"module": "skmixal/randaugment.py",
       "before": "hist = torch.bincount((levels + offsets).flatten(), "
                 "minlength=n * c * 256)",
       "after": f"hist = torch.bincount((levels {op} offsets).flatten(), "
                "minlength=n * c * 256)",
       "why": "offsets are multiples of 256 and levels are below 256: their bits "
              "do not overlap, so `|` and `^` add them"}
      for op in ("|", "^")),
    {"module": "skmixal/randaugment.py",
     "before": "levels = torch.round(z.reshape(n * c, h * w) * 255).long()"
               ".clamp_(0, 255)",
     "after": "levels = torch.round(z.reshape(n * c, h * w) * 255).long()"
              ".clamp_(0, 256)",
     "why": "z is at most 1 here, so round(255 z) never exceeds 255"},
    {"module": "skmixal/randaugment.py",
     "before": "return torch.floor(torch.round(z * 255) / step) * step / 255",
     "after": "return torch.floor(torch.round(z * 255) // step) * step / 255",
     "why": "`//` on tensors is floor division, so floor(a // b) is floor(a / b)"},
    {"module": "skmixal/randaugment.py",
     "before": "box = F.avg_pool2d(z, 3, stride=1, padding=1, "
               "count_include_pad=True) * 9",
     "after": "box = F.avg_pool2d(z, 3, stride=1, padding=1, "
              "count_include_pad=False) * 9",
     "why": "only inner pixels keep the blur (border pixels are put back two "
            "lines below), and their 3 x 3 windows hold no padding"},
    {"module": "skmixal/randaugment.py",
     "before": "half = size // 2", "after": "half = size / 2",
     "why": "the box compares integer rows and columns: rows >= cy - 2.5 and "
            "< cy + 2.5 are rows >= cy - 2 and < cy + 3, as with half 2 "
            "(and even sizes halve exactly)"},
    {"module": "skmixal/randaugment.py",
     "before": "box = ((rows >= cy - half) & (rows < cy - half + size)",
     "after": "box = ((rows >= cy - half) * (rows < cy - half + size)",
     "why": BOOL_AND},
    {"module": "skmixal/randaugment.py",
     "before": "& (cols >= cx - half) & (cols < cx - half + size))",
     "after": "* (cols >= cx - half) & (cols < cx - half + size))",
     "why": BOOL_AND},
    {"module": "skmixal/randaugment.py",
     "before": "& (cols >= cx - half) & (cols < cx - half + size))",
     "after": "& (cols >= cx - half) * (cols < cx - half + size))",
     "why": BOOL_AND},
    {"module": "skmixal/randaugment.py",
     "before": "def randaugment(x, *, n_ops=2, prob=0.5, cutout_share=0.5, "
               "low=0.0, high=1.0,",
     "after": "def randaugment(x, *, n_ops=2, prob=0.5, cutout_share=0.5, "
              "low=0.0, high= 0.0,",
     "why": "with the default low 0, high 0 makes the range empty and `(high - "
            "low) or 1.0` takes the unit range: the same as high 1"},
    {"module": "skmixal/randaugment.py",
     "before": "def randaugment(x, *, n_ops=2, prob=0.5, cutout_share=0.5, "
               "low=0.0, high=1.0,",
     "after": "def randaugment(x, /, n_ops=2, prob=0.5, cutout_share=0.5, "
              "low=0.0, high=1.0,",
     "why": KEYWORD_ONLY},
    {"module": "skmixal/randaugment.py",
     "before": "ops = torch.where(draw[0] < prob, ops, 0)  # not applied: identity",
     "after": "ops = torch.where(draw[0] < prob, ops, -1)  # not applied: identity",
     "why": "-1 is no operation's index, so those rows are left alone, as with 0 "
            "('identity')"},
    {"module": "skmixal/randaugment.py",
     "before": "ops = torch.where(draw[0] < prob, ops, 0)  # not applied: identity",
     "after": "ops = torch.where(draw[0] <= prob, ops, 0)  # not applied: identity",
     "why": EXACT_DRAW},
    {"module": "skmixal/randaugment.py",
     "before": "signed = torch.where(draw[2] < 0.5, -draw[1], draw[1]).to(x.dtype)",
     "after": "signed = torch.where(draw[2] <= 0.5, -draw[1], draw[1]).to(x.dtype)",
     "why": EXACT_DRAW},
    *({"module": "skmixal/randaugment.py",
       "before": "z.index_copy_(0, rows, part.clamp(0, 1))",
       "after": f"z.index_copy_(0, rows, part.clamp({bounds}))",
       "why": "every photometric operation maps [0, 1] into [0, 1] (the factors, "
              "0.05 to 0.95, interpolate between the image and its gray, mean or "
              "blur): the clamp only trims rounding"}
      for bounds in (" -1, 1", "0, 2")),
    *({"module": "skmixal/randaugment.py",
       "before": "z = cutout(z, round(cutout_share * min(x.shape[-2:])), fill, "
                 "generator)",
       "after": f"z = cutout(z, round(cutout_share * min(x.shape[{sl}])), fill, "
                "generator)",
       "why": FOUR_D}
      for sl in ("2:", "+2:")),
    # --- skmixal/strategies/diversity.py ---------------------------------------
    *({"module": 'skmixal/strategies/diversity.py',
       "before": 'if len(picks) > 1:',
       "after": after,
       "why": ONE_PICK}
      for after in ('if len(picks) > 0:',
                  'if len(picks) >= 1:',
                  'if len(picks) != 1:',)),
    {"module": 'skmixal/strategies/diversity.py',
     "before": 'return np.sqrt(np.maximum(d, 0.0))',
     "after": 'return np.sqrt(np.maximum(d, -1.0))',
     "why": CLIPPED},
    {"module": 'skmixal/strategies/diversity.py',
     "before": 'np.minimum(min_d, np.maximum(d, 0.0), out=min_d)',
     "after": 'np.minimum(min_d, np.maximum(d, -1.0), out=min_d)',
     "why": ROUNDED_NEGATIVE},
    {"module": 'skmixal/strategies/diversity.py',
     "before": 'if step + 1 < k:',
     "after": 'if step + 1 != k:',
     "why": STEP_RANGE},
    *({"module": 'skmixal/strategies/diversity.py',
       "before": 'batch = as_numpy(batch).astype(np.float32, '
                  'copy=False).reshape(len(batch), -1)',
       "after": after,
       "why": NEGATIVE_RESHAPE}
      for after in ('batch = as_numpy(batch).astype(np.float32, '
                  'copy=False).reshape(len(batch), - 2)',
                  'batch = as_numpy(batch).astype(np.float32, '
                  'copy=False).reshape(len(batch), ~1)',)),
    {"module": 'skmixal/strategies/diversity.py',
     "before": 'batch = as_numpy(batch).astype(np.float32, '
                'copy=False).reshape(len(batch), -1)',
     "after": 'batch = as_numpy(batch).astype(np.float32, '
               'copy=True).reshape(len(batch), -1)',
     "why": COPY},
    *({"module": 'skmixal/strategies/diversity.py',
       "before": 'rows.append(np.asarray(out, '
                  'dtype=np.float32).reshape(len(batch), -1))',
       "after": after,
       "why": NEGATIVE_RESHAPE}
      for after in ('rows.append(np.asarray(out, '
                  'dtype=np.float32).reshape(len(batch), - 2))',
                  'rows.append(np.asarray(out, '
                  'dtype=np.float32).reshape(len(batch), ~1))',)),
    *({"module": 'skmixal/strategies/diversity.py',
       "before": 'km = MiniBatchKMeans(n_clusters, batch_size=4096, '
                  'random_state=seed,',
       "after": after,
       "why": KMEANS_EFFORT}
      for after in ('km = MiniBatchKMeans(n_clusters, batch_size= 4097, '
                  'random_state=seed,',
                  'km = MiniBatchKMeans(n_clusters, batch_size= 4095, '
                  'random_state=seed,',)),
    *({"module": 'skmixal/strategies/diversity.py',
       "before": 'n_init=3)',
       "after": after,
       "why": KMEANS_EFFORT}
      for after in ('n_init= 4)',
                  'n_init= 2)',)),
    {"module": 'skmixal/strategies/diversity.py',
     "before": 'km = KMeans(n_clusters, n_init=1, random_state=seed)',
     "after": 'km = KMeans(n_clusters, n_init= 2, random_state=seed)',
     "why": KMEANS_EFFORT},
    *({"module": 'skmixal/strategies/diversity.py',
       "before": 'with threadpool_limits(1):',
       "after": after,
       "why": LIMIT_ZERO}
      for after in ('with threadpool_limits( 0):',
                  'with threadpool_limits( 0):',)),
    {"module": 'skmixal/strategies/diversity.py',
     "before": 'return Z_lab.astype(np.float32, copy=False)',
     "after": 'return Z_lab.astype(np.float32, copy=True)',
     "why": COPY},
    {"module": 'skmixal/strategies/diversity.py',
     "before": 'has_labeled = X_labeled is not None and n_rows(X_labeled) > 0',
     "after": 'has_labeled = X_labeled is not None and n_rows(X_labeled) != 0',
     "why": NONNEG_SIZE},
    {"module": 'skmixal/strategies/diversity.py',
     "before": 'Z = as_numpy(features).astype(np.float32, copy=False)',
     "after": 'Z = as_numpy(features).astype(np.float32, copy=True)',
     "why": COPY},
    *({"module": 'skmixal/strategies/diversity.py',
       "before": 'seed = rng.randint(2**31 - 1)',
       "after": after,
       "why": SEED_RANGE}
      for after in ('seed = rng.randint(2** 32 - 1)',
                  'seed = rng.randint(2** 30 - 1)',
                  'seed = rng.randint(2**31 - 2)',
                  'seed = rng.randint(2**31 - 0)',
                  'seed = rng.randint(2+31 - 1)',
                  'seed = rng.randint(2&31 - 1)',
                  'seed = rng.randint(2|31 - 1)',
                  'seed = rng.randint(2^31 - 1)',
                  'seed = rng.randint(2<<31 - 1)',
                  'seed = rng.randint(2%31 - 1)',
                  'seed = rng.randint(2*31 - 1)',
                  'seed = rng.randint(2**31 + 1)',
                  'seed = rng.randint(2**31 | 1)',
                  'seed = rng.randint(2**31 ^ 1)',
                  'seed = rng.randint(2**31 / 1)',
                  'seed = rng.randint(2**31 // 1)',
                  'seed = rng.randint(2**31 << 1)',
                  'seed = rng.randint(2**31 * 1)',
                  'seed = rng.randint(2**31 ** 1)',
                  'seed = rng.randint(2**31 >> 1)',)),
    {"module": 'skmixal/strategies/diversity.py',
     "before": 'eligible = size_ok if size_ok.any() else remaining > 0',
     "after": 'eligible = size_ok if size_ok.any() else remaining != 0',
     "why": NONNEG_COUNT},
    {"module": 'skmixal/strategies/diversity.py',
     "before": 'order = np.lexsort((-remaining, np.where(eligible, covered, '
                'np.iinfo(',
     "after": 'order = np.lexsort((~remaining, np.where(eligible, covered, '
               'np.iinfo(',
     "why": INVERT_ORDER},
    {"module": 'skmixal/strategies/diversity.py',
     "before": 'members = np.flatnonzero((labels == cluster) & ~taken)',
     "after": 'members = np.flatnonzero((labels == cluster) // ~taken)',
     "why": BOOL_FLOORDIV},
    {"module": 'skmixal/strategies/diversity.py',
     "before": 'members = np.flatnonzero((labels == cluster) & ~taken)',
     "after": 'members = np.flatnonzero((labels == cluster) * ~taken)',
     "why": BOOL_AND},
    {"module": 'skmixal/strategies/diversity.py',
     "before": 'if len(members) > max_cluster_points:',
     "after": 'if len(members) >= max_cluster_points:',
     "why": SAME_MEMBERS},
    # --- skmixal/strategies/bayesian.py ----------------------------------------
    {"module": 'skmixal/strategies/bayesian.py',
     "before": 'x = inputs[0]',
     "after": 'x = inputs[ -1]',
     "why": ONE_INPUT},
    *({"module": 'skmixal/strategies/bayesian.py',
       "before": 'if isinstance(layer, _CHANNEL_DROPOUT) and len(shape) > 1:',
       "after": after,
       "why": CHANNEL_FLAT}
      for after in ('if isinstance(layer, _CHANNEL_DROPOUT) and len(shape) > 0:',
                  'if isinstance(layer, _CHANNEL_DROPOUT) and len(shape) >= 1:',
                  'if isinstance(layer, _CHANNEL_DROPOUT) and len(shape) != 1:',)),
    {"module": 'skmixal/strategies/bayesian.py',
     "before": 'mask = ((draw < keep).to(x.dtype) / keep).to(x.device)',
     "after": 'mask = ((draw <= keep).to(x.dtype) / keep).to(x.device)',
     "why": EXACT_DRAW},
    {"module": 'skmixal/strategies/bayesian.py',
     "before": 'if len(keep_idx) > n_candidates:',
     "after": 'if len(keep_idx) >= n_candidates:',
     "why": SAME_SET},
    {"module": 'skmixal/strategies/bayesian.py',
     "before": 'top = np.argpartition(-keep_score, n_candidates - '
                '1)[:n_candidates]',
     "after": 'top = np.argpartition(-keep_score, n_candidates - 2)[:n_candidates]',
     "why": KTH_NEXT},
    *({"module": 'skmixal/strategies/bayesian.py',
       "before": 'top = np.argpartition(-keep_score, n_candidates - '
                  '1)[:n_candidates]',
       "after": after,
       "why": KTH_N}
      for after in ('top = np.argpartition(-keep_score, n_candidates - '
                  '0)[:n_candidates]',
                  'top = np.argpartition(-keep_score, n_candidates // '
                  '1)[:n_candidates]',
                  'top = np.argpartition(-keep_score, n_candidates * '
                  '1)[:n_candidates]',
                  'top = np.argpartition(-keep_score, n_candidates ** '
                  '1)[:n_candidates]',)),
    *({"module": 'skmixal/strategies/bayesian.py',
       "before": 'chunk = chunk_size or max(1, 2**22 // (n_configs * n_classes))',
       "after": after,
       "why": CHUNK}
      for after in ('chunk = chunk_size or max( 2, 2**22 // (n_configs * n_classes))',
                  'chunk = chunk_size or max(1, 3**22 // (n_configs * n_classes))',
                  'chunk = chunk_size or max(1, 1**22 // (n_configs * n_classes))',
                  'chunk = chunk_size or max(1, 2** 23 // (n_configs * n_classes))',
                  'chunk = chunk_size or max(1, 2** 21 // (n_configs * n_classes))',
                  'chunk = chunk_size or max(1, 2**22 + (n_configs * n_classes))',
                  'chunk = chunk_size or max(1, 2**22 & (n_configs * n_classes))',
                  'chunk = chunk_size or max(1, 2**22 | (n_configs * n_classes))',
                  'chunk = chunk_size or max(1, 2**22 ^ (n_configs * n_classes))',
                  'chunk = chunk_size or max(1, 2**22 << (n_configs * n_classes))',
                  'chunk = chunk_size or max(1, 2**22 % (n_configs * n_classes))',
                  'chunk = chunk_size or max(1, 2**22 * (n_configs * n_classes))',
                  'chunk = chunk_size or max(1, 2**22 >> (n_configs * n_classes))',
                  'chunk = chunk_size or max(1, 2**22 - (n_configs * n_classes))',
                  'chunk = chunk_size or max(1, 2**22 // (n_configs + n_classes))',
                  'chunk = chunk_size or max(1, 2**22 // (n_configs | n_classes))',
                  'chunk = chunk_size or max(1, 2**22 // (n_configs ^ n_classes))',
                  'chunk = chunk_size or max(1, 2**22 // (n_configs << n_classes))',
                  'chunk = chunk_size or max(1, 2**22 // (n_configs ** n_classes))',
                  'chunk = chunk_size or max(1, 2**22 // (n_configs - n_classes))',
                  'chunk = chunk_size or max(1, 2+22 // (n_configs * n_classes))',
                  'chunk = chunk_size or max(1, 2&22 // (n_configs * n_classes))',
                  'chunk = chunk_size or max(1, 2|22 // (n_configs * n_classes))',
                  'chunk = chunk_size or max(1, 2^22 // (n_configs * n_classes))',
                  'chunk = chunk_size or max(1, 2/22 // (n_configs * n_classes))',
                  'chunk = chunk_size or max(1, 2//22 // (n_configs * n_classes))',
                  'chunk = chunk_size or max(1, 2<<22 // (n_configs * n_classes))',
                  'chunk = chunk_size or max(1, 2%22 // (n_configs * n_classes))',
                  'chunk = chunk_size or max(1, 2*22 // (n_configs * n_classes))',
                  'chunk = chunk_size or max(1, 2>>22 // (n_configs * n_classes))',
                  'chunk = chunk_size or max(1, 2-22 // (n_configs * n_classes))',)),
    {"module": 'skmixal/strategies/bayesian.py',
     "before": 'labels = np.minimum((np.cumsum(cond, axis=1) < u).sum(axis=1), '
                'cond.shape[1] - 1)',
     "after": 'labels = np.minimum((np.cumsum(cond, axis=1) <= u).sum(axis=1), '
               'cond.shape[1] - 1)',
     "why": EXACT_DRAW64},
    {"module": 'skmixal/strategies/bayesian.py',
     "before": 'if isinstance(m, torch.nn.modules.dropout._DropoutNd) and m.p > 0',
     "after": 'if isinstance(m, torch.nn.modules.dropout._DropoutNd) and m.p != 0',
     "why": DROPOUT_P},
    # --- skmixal/strategies/mixing.py ------------------------------------------
    {"module": 'skmixal/strategies/mixing.py',
     "before": 'if X_labeled is None or n_rows(X_labeled) == 0 or'
               ' (need_y and y_labeled is None):',
     "after": 'if X_labeled is None or n_rows(X_labeled) <= 0 or'
              ' (need_y and y_labeled is None):',
     "why": NONNEG_SIZE},
    *({"module": 'skmixal/strategies/mixing.py',
       "before": 'km = fit_kmeans(Z, k, rng.randint(2**31 - 1))',
       "after": after,
       "why": SEED_RANGE}
      for after in (
                'km = fit_kmeans(Z, k, rng.randint(2** 30 - 1))',
                'km = fit_kmeans(Z, k, rng.randint(2**31 - 2))',
                'km = fit_kmeans(Z, k, rng.randint(2**31 - 0))',
                'km = fit_kmeans(Z, k, rng.randint(2<<31 - 1))',
                'km = fit_kmeans(Z, k, rng.randint(2**31 / 1))',
                'km = fit_kmeans(Z, k, rng.randint(2**31 // 1))',
                'km = fit_kmeans(Z, k, rng.randint(2**31 * 1))',
                'km = fit_kmeans(Z, k, rng.randint(2**31 ** 1))',
                'km = fit_kmeans(Z, k, rng.randint(2**31 >> 1))',)),
    {"module": 'skmixal/strategies/mixing.py',
     "before": 'd = euclidean_distances(Z, km.cluster_centers_,'
               ' squared=True)  # (n, k)',
     "after": 'd = euclidean_distances(Z, km.cluster_centers_,'
              ' squared=False)  # (n, k)',
     "why": SQRT_ORDER},
    {"module": 'skmixal/strategies/mixing.py',
     "before": 'new = np.flatnonzero(rate > 0)',
     "after": 'new = np.flatnonzero(rate != 0)',
     "why": RATE_NONNEG},
    *({"module": 'skmixal/strategies/mixing.py',
       "before": 'if len(cand_idx) > max_candidates:',
       "after": after,
       "why": PRUNE_NONE}
      for after in (
                'if len(cand_idx) >= max_candidates:',
                'if len(cand_idx) is not max_candidates:',
                'if len(cand_idx) != max_candidates:',)),
    {"module": 'skmixal/strategies/mixing.py',
     "before": 'if lam.size == 0 or not np.all((lam > 0) & (lam < 1)):',
     "after": 'if lam.size == 0 or not np.all((lam > 0) * (lam < 1)):',
     "why": BOOL_AND_ARRAYS},
    {"module": 'skmixal/strategies/mixing.py',
     "before": 'if lam.size == 0 or not np.all((lam > 0) & (lam < 1)):',
     "after": 'if lam.size <= 0 or not np.all((lam > 0) & (lam < 1)):',
     "why": NONNEG_SIZE},
    *({"module": 'skmixal/strategies/mixing.py',
       "before": 'shape = (n_l, 1, 1) + (1,) * (x.ndim - 1)',
       "after": after,
       "why": EXTRA_AXES}
      for after in (
                'shape = (n_l, 1, 1) + (1,) * (x.ndim - 0)',
                'shape = (n_l, 1, 1) + (1,) * (x.ndim + 1)',
                'shape = (n_l, 1, 1) + (1,) * (x.ndim | 1)',
                'shape = (n_l, 1, 1) + (1,) * (x.ndim ^ 1)',
                'shape = (n_l, 1, 1) + (1,) * (x.ndim // 1)',
                'shape = (n_l, 1, 1) + (1,) * (x.ndim << 1)',
                'shape = (n_l, 1, 1) + (1,) * (x.ndim * 1)',
                'shape = (n_l, 1, 1) + (1,) * (x.ndim ** 1)',)),
    *({"module": 'skmixal/strategies/mixing.py',
       "before": 'p_x, p_mix = proba[:b], proba[b:].reshape(n_l, n_a, b, -1)',
       "after": after,
       "why": NEGATIVE_RESHAPE}
      for after in (
                'p_x, p_mix = proba[:b], proba[b:].reshape(n_l, n_a, b, - 2)',
                'p_x, p_mix = proba[:b], proba[b:].reshape(n_l, n_a, b, ~1)',)),
    {"module": 'skmixal/strategies/mixing.py',
     "before": 'if len(shortlist) <= n_select:',
     "after": 'if len(shortlist) == n_select:',
     "why": SHORTLIST_SIZE},
    *({"module": 'skmixal/strategies/mixing.py',
       "before": 'feats = as_numpy(take_rows(X_pool,'
                 ' rows)).astype(np.float32).reshape(len(rows), -1)',
       "after": after,
       "why": NEGATIVE_RESHAPE}
      for after in (
                'feats = as_numpy(take_rows(X_pool,'
                ' rows)).astype(np.float32).reshape(len(rows), - 2)',
                'feats = as_numpy(take_rows(X_pool,'
                ' rows)).astype(np.float32).reshape(len(rows), ~1)',)),
]
