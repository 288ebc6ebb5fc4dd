"""A catalog of realistic student bugs.

Each mutant is a small, named text change to one cell of a correct solution
style (``find`` must occur exactly once, so a mutant can never silently stop
applying), and declares the graded cells it must lose points on.
"""
from __future__ import annotations

import dataclasses

from .cells import read_style


@dataclasses.dataclass(frozen=True)
class Mutant:
    name: str
    style: str              # the correct solution it starts from
    cell: str               # the solution cell it changes
    find: str
    replace: str
    fails: tuple[str, ...]  # graded cells that must lose points (exactly these)
    about: str = ""
    equivalent: str = ""    # why the change cannot be detected (empty: it must be killed)

    def cells(self, source_nb=None) -> dict[str, str]:
        cells = read_style(self.style, source_nb)
        code = cells[self.cell]
        count = code.count(self.find)
        if count != 1:
            raise ValueError(f"mutant {self.name}: {self.find!r} occurs {count} times in {self.style}/{self.cell}")
        cells[self.cell] = code.replace(self.find, self.replace)
        return cells


# Graded cells, short names for the declarations below.
OUTSIZE, RF = "test_conv_output_size", "test_receptive_field"
INIT, FWD, BWD = "test_conv2d_init", "test_conv2d_forward", "test_conv2d_backward"
MPF, MPB = "test_maxpool2d_forward", "test_maxpool2d_backward"
APF, APB = "test_avgpool2d_forward", "test_avgpool2d_backward"
FLAT = "test_flatten"
STRUCT, CNNF, CNNT = "test_simplecnn_structure", "test_simplecnn_forward", "test_simplecnn_training"
CNN = (CNNF, CNNT)

CATALOG: list[Mutant] = [
    # ------------------------------------------------------------ the demo's four (grader/demo.py uses them)
    Mutant("flipped_kernel", "loops", "conv2d_op",
           "out[n, f, i, j] = (patch * w[f]).sum()", "out[n, f, i, j] = (patch * w[f, :, ::-1, ::-1]).sum()",
           ("test_conv2d_forward",) + CNN, "true convolution instead of cross-correlation"),
    Mutant("maxpool_default_stride_1", "loops", "maxpool2d",
           "self.stride = _pair(stride) if stride is not None else self.kernel",
           "self.stride = _pair(stride) if stride is not None else (1, 1)",
           ("test_maxpool2d_forward", "test_maxpool2d_backward", "test_simplecnn_structure") + CNN,
           "MaxPool2d's stride defaults to 1 instead of the kernel size"),
    Mutant("avgpool_divides_by_4", "loops", "avgpool2d",
           "out[n, c, i, j] = padded[n, c, i * sh:i * sh + kh, j * sw:j * sw + kw].mean()",
           "out[n, c, i, j] = padded[n, c, i * sh:i * sh + kh, j * sw:j * sw + kw].sum() / 4",
           ("test_avgpool2d_forward",), "AvgPool2d always divides by 4"),
    Mutant("bias_grad_first_item", "loops", "conv2d_op",
           "db = grad_out.sum(axis=(0, 2, 3)) if has_bias else None",
           "db = grad_out[0].sum(axis=(1, 2)) if has_bias else None",
           ("test_conv2d_backward", "test_simplecnn_training"), "bias gradient only from the first batch item"),

    # ------------------------------------------------------------ part 1: shape arithmetic
    Mutant("outsize_missing_plus_one", "einsum", "conv_output_size",
           "return span // stride + 1", "return span // stride",
           (OUTSIZE,), "counts the strides, not the window positions (off by one)"),
    Mutant("outsize_true_division", "im2col", "conv_output_size",
           "return int(np.floor((size + 2 * padding - kernel) / stride)) + 1",
           "return (size + 2 * padding - kernel) / stride + 1",
           (OUTSIZE,), "true division: a float, fractional whenever the stride does not divide the span"),
    Mutant("outsize_ceil", "float32", "conv_output_size",
           "steps = (size + 2 * padding - kernel) // stride",
           "steps = -(-(size + 2 * padding - kernel) // stride)",
           (OUTSIZE,), "rounds up: counts a last, partial window"),
    Mutant("outsize_padding_once", "strided", "conv_output_size",
           "math.floor((size + 2 * padding - kernel) / stride) + 1",
           "math.floor((size + padding - kernel) / stride) + 1",
           (OUTSIZE,), "padding counted on one side only"),
    Mutant("rf_adds_whole_kernel", "float32", "receptive_field",
           "size = size + kernel - 1", "size = size + kernel",
           (RF,), "each layer adds kernel instead of kernel - 1"),
    Mutant("rf_forgets_center_pixel", "einsum", "receptive_field",
           "return kernel + (num_layers - 1) * (kernel - 1)", "return num_layers * (kernel - 1)",
           (RF,), "n * (k - 1) without the +1 for layers >= 1"),
    Mutant("rf_one_layer_short", "offsets", "receptive_field",
           "for _ in range(num_layers))", "for _ in range(num_layers - 1))",
           (RF,), "loops over one layer too few"),

    # ------------------------------------------------------------ Conv2d forward
    Mutant("conv_window_ignores_stride", "reference", "conv2d_op",
           "window = x_pad[:, :, i * sh:i * sh + kh, j * sw:j * sw + kw]   # (N, C, KH, KW)\n"
           "                out[:, :, i, j]",
           "window = x_pad[:, :, i:i + kh, j:j + kw]   # (N, C, KH, KW)\n"
           "                out[:, :, i, j]",
           (FWD,), "output size uses the stride, but the forward windows start at i, j (stride ignored); "
                   "backward is right"),
    Mutant("conv_stride_ignored", "im2col", "conv2d_op",
           "win = _windows(xp, kh, kw, sh, sw)", "win = _windows(xp, kh, kw, 1, 1)",
           (FWD, BWD), "every stride-1 window: too many output positions"),
    Mutant("conv_stride_height_for_both", "im2col", "conv2d_op",
           "axis=(2, 3))[:, :, ::sh, ::sw]", "axis=(2, 3))[:, :, ::sh, ::sh]",
           (FWD, BWD), "the height stride is used along the width too"),
    Mutant("conv_padding_one_side", "im2col", "conv2d_op",
           "xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))",
           "xp = np.pad(x, ((0, 0), (0, 0), (ph, 0), (pw, 0)))",
           (FWD, BWD, STRUCT) + CNN, "padding applied once (top/left only)"),
    Mutant("conv_padding_at_end", "offsets", "conv2d_op",
           "xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))",
           "xp = np.pad(x, ((0, 0), (0, 0), (0, 2 * ph), (0, 2 * pw)))",
           (FWD, BWD) + CNN, "all the padding goes after the image: right size, shifted windows"),
    Mutant("conv_padding_wrong_axes", "einsum", "conv2d_op",
           "xp = np.pad(x, [(0, 0), (0, 0), (ph, ph), (pw, pw)], mode=\"constant\")",
           "xp = np.pad(x, [(ph, ph), (pw, pw), (0, 0), (0, 0)], mode=\"constant\")",
           (FWD, BWD, STRUCT) + CNN, "pads the batch and channel axes instead of height and width"),
    Mutant("conv_height_width_swapped", "offsets", "conv2d_op",
           "n, _, h, wd = x.shape", "n, _, wd, h = x.shape",
           (FWD, BWD), "unpacks (N, C, W, H): right only for square inputs"),
    Mutant("conv_only_channel_0", "strided", "conv2d_op",
           "outs.append(np.tensordot(w, win, axes=([1, 2, 3], [0, 3, 4])))",
           "outs.append(np.tensordot(w[:, 0], win[0], axes=([1, 2], [2, 3])))",
           (FWD,) + CNN, "sums over the kernel of input channel 0 only"),
    Mutant("conv_channels_summed_separately", "einsum", "conv2d_op",
           '"nchwij,fcij->nfhw", patches, w', '"nchwij,fdij->nfhw", patches, w',
           (FWD,) + CNN, "einsum typo: input and weight channels summed independently"),
    Mutant("conv_kernel_transposed", "strided", "conv2d_op",
           "axes=([1, 2, 3], [0, 3, 4])", "axes=([1, 2, 3], [0, 4, 3])",
           (FWD, BWD) + CNN, "window (KH, KW) axes matched against the kernel's (KW, KH): transposed "
                             "kernel for square kernels, and a shape error (forward raises) for (h, w) kernels"),
    Mutant("conv_batch_summed", "reference", "conv2d_op",
           "out[:, :, i, j] = np.tensordot(window, w, axes=([1, 2, 3], [1, 2, 3]))",
           "out[:, :, i, j] = np.tensordot(window, w, axes=([1, 2, 3], [1, 2, 3])).sum(axis=0)",
           (FWD,) + CNN, "batch items leak: every item gets the sum over the batch"),
    Mutant("conv_batch_positions_mixed", "im2col", "conv2d_op",
           "return out.reshape(n, oh, ow, f).transpose(0, 3, 1, 2)",
           "return out.reshape(oh, ow, n, f).transpose(2, 3, 0, 1)",
           (FWD,) + CNN, "im2col rows read back in the wrong order: batch items and positions mix"),
    Mutant("conv_returns_zeros", "im2col", "conv2d_op",
           "return out.reshape(n, oh, ow, f).transpose(0, 3, 1, 2)",
           "return np.zeros((n, f, oh, ow))",
           (FWD,) + CNN, "a placeholder left in: zeros of the right shape (passes every shape-only test)"),

    # ------------------------------------------------------------ Conv2d bias
    Mutant("conv_bias_never_passed", "reference", "conv2d_layer",
           "(x, self.weight, self.bias)", "(x, self.weight)",
           (FWD, BWD) + CNN, "the layer never hands its bias to the op"),
    Mutant("conv_bias_on_width_axis", "einsum", "conv2d_op",
           "b[None, :, None, None]", "b[None, None, None, :]",
           (FWD, BWD, STRUCT) + CNN, "bias broadcast along the width axis instead of the channel axis"),
    Mutant("conv_bias_despite_bias_false", "im2col", "conv2d_layer",
           "requires_grad=True) if bias else None", "requires_grad=True)",
           (INIT, FWD, BWD), "creates a bias even when bias=False"),
    Mutant("conv_bias_added_per_offset", "offsets", "conv2d_op",
           "w[:, :, u, v], axes=([1], [1]))", "w[:, :, u, v], axes=([1], [1])) + (b if b is not None else 0.0)",
           (FWD,) + CNN, "bias added inside the kernel-offset loop (KH*KW + 1 times)"),

    # ------------------------------------------------------------ Conv2d parameters
    Mutant("conv_init_std_one", "reference", "conv2d_layer",
           "std = np.sqrt(2.0 / (in_channels * kh * kw))", "std = 1.0",
           (INIT,), "standard normal weights (std 1)"),
    Mutant("conv_init_lecun", "im2col", "conv2d_layer",
           "scale = (2.0 / (in_channels * kh * kw)) ** 0.5", "scale = (1.0 / (in_channels * kh * kw)) ** 0.5",
           (INIT,), "std sqrt(1 / fan_in) (LeCun) instead of sqrt(2 / fan_in) (He)"),
    Mutant("conv_init_fan_out", "float32", "conv2d_layer",
           "std = np.sqrt(2.0 / (in_channels * kh * kw))", "std = np.sqrt(2.0 / (out_channels * kh * kw))",
           (INIT,), "fan-out instead of fan-in in the He std"),
    Mutant("conv_init_sqrt_misplaced", "offsets", "conv2d_layer",
           "scale=np.sqrt(2.0 / fan_in)", "scale=2.0 / np.sqrt(fan_in)",
           (INIT,), "std 2 / sqrt(fan_in)"),
    Mutant("conv_init_constant", "einsum", "conv2d_layer",
           "np.random.normal(loc=0.0, scale=np.sqrt(2 / fan_in), size=shape)", "np.full(shape, np.sqrt(2 / fan_in))",
           (INIT,), "every weight starts at the same constant"),
    Mutant("conv_init_uniform_01", "strided", "conv2d_layer",
           "np.random.randn(", "np.random.rand(",
           (INIT,), "rand (uniform on [0, 1)) instead of randn: mean 0.5"),
    Mutant("conv_weight_in_out_layout", "fullconv", "conv2d_layer",
           "shape = (out_channels, in_channels, *self.kernel_size)", "shape = (in_channels, out_channels, *self.kernel_size)",
           (INIT, FWD, BWD, STRUCT) + CNN, "weight laid out (in, out, KH, KW)"),
    Mutant("conv_kernel_size_int_only", "strided", "conv2d_layer",
           "self.kh, self.kw = (kernel_size, kernel_size) if isinstance(kernel_size, int) else tuple(kernel_size)",
           "self.kh = self.kw = kernel_size",
           (INIT, FWD, BWD), "kernel_size assumed to be an int: (h, w) kernels break"),
    Mutant("conv_layer_stride_padding_swapped", "strided", "conv2d_layer",
           "Conv2dOp(self.conv_stride, self.conv_padding)", "Conv2dOp(self.conv_padding, self.conv_stride)",
           (FWD, BWD), "positional arguments swapped (harmless only when stride == padding, as in SimpleCNN)"),
    Mutant("conv_pads_input_in_place", "reference", "conv2d_layer",
           "return Conv2dOp(self.stride, self.padding)(x, self.weight, self.bias)",
           "ph, pw = self.padding\n"
           "        x.data = np.pad(x.data, ((0, 0), (0, 0), (ph, ph), (pw, pw)))\n"
           "        return Conv2dOp(self.stride, 0)(x, self.weight, self.bias)",
           (FWD, BWD, CNNT), "pads the caller's input tensor in place (mutates the input)"),

    # ------------------------------------------------------------ Conv2d backward
    Mutant("conv_bwd_overwrites_windows", "reference", "conv2d_op",
           "dx_pad[:, :, i * sh:i * sh + kh, j * sw:j * sw + kw] += ",
           "dx_pad[:, :, i * sh:i * sh + kh, j * sw:j * sw + kw] = ",
           (BWD, CNNT), "= instead of +=: overlapping windows overwrite each other's input gradient"),
    Mutant("conv_col2im_fancy_index", "float32", "conv2d_op",
           "np.add.at(dxp, (slice(None), chan, rows, cols), dcol)", "dxp[:, chan, rows, cols] += dcol",
           (BWD, CNNT), "fancy-index += instead of np.add.at: repeated input positions do not accumulate"),
    Mutant("conv_bwd_forgets_unpad", "reference", "conv2d_op",
           "dx = dx_pad[:, :, ph:ph + h, pw:pw + width]", "dx = dx_pad",
           (BWD, CNNT), "returns the gradient of the padded input"),
    Mutant("conv_bwd_unpad_wrong_offset", "einsum", "conv2d_op",
           "dx = dxp[:, :, ph:xp.shape[2] - ph, pw:xp.shape[3] - pw]",
           "dx = dxp[:, :, :xp.shape[2] - 2 * ph, :xp.shape[3] - 2 * pw]",
           (BWD, CNNT), "cuts the padding off one side only: right shape, shifted gradient"),
    Mutant("conv_dw_transposed", "im2col", "conv2d_op",
           "dw = (g2.T @ cols).reshape(w.shape)", "dw = (cols.T @ g2).reshape(w.shape)",
           (BWD, CNNT), "weight gradient computed as (C*KH*KW, F) and reshaped to (F, C, KH, KW)"),
    Mutant("conv_dx_axes_swapped", "im2col", "conv2d_op",
           "dcols[:, :, :, :, u, v].transpose(0, 3, 1, 2)", "dcols[:, :, :, :, u, v].transpose(0, 3, 2, 1)",
           (BWD, CNNT), "col2im writes (W, H) blocks into (H, W) positions"),
    Mutant("conv_bwd_first_item_only", "reference", "conv2d_op",
           "dw += np.tensordot(g, window, axes=(0, 0))", "dw += np.tensordot(g[:1], window[:1], axes=(0, 0))",
           (BWD, CNNT), "weight gradient from the first batch item only"),
    Mutant("conv_bwd_stride_ignored", "einsum", "conv2d_op",
           "dxp[:, :, i:i + sh * oh:sh, j:j + sw * ow:sw] += dpatches[..., i, j]",
           "dxp[:, :, i:i + oh, j:j + ow] += dpatches[..., i, j]",
           (BWD,), "col2im places the windows as if the stride were 1"),
    Mutant("conv_bwd_no_dilation", "fullconv", "conv2d_op",
           "gd = dilate(grad_out, sh, sw)", "gd = grad_out",
           (BWD,), "transposed convolution without dilating the upstream gradient by the stride"),
    Mutant("conv_bwd_kernel_not_flipped", "fullconv", "conv2d_op",
           "correlate(full, w[:, :, ::-1, ::-1].transpose(1, 0, 2, 3))", "correlate(full, w.transpose(1, 0, 2, 3))",
           (BWD, CNNT), "input gradient correlates with the unflipped kernel"),
    Mutant("conv_dx_without_weight", "loops", "conv2d_op",
           "+= g * w[f]", "+= g",
           (BWD, CNNT), "input gradient forgets to multiply by the weight"),
    Mutant("conv_db_averaged_over_batch", "reference", "conv2d_op",
           "db = grad_out.sum(axis=(0, 2, 3)) if self.has_bias else None",
           "db = grad_out.sum(axis=(2, 3)).mean(axis=0) if self.has_bias else None",
           (BWD, CNNT), "bias gradient averaged over the batch instead of summed"),
    Mutant("conv_db_wrong_axes", "float32", "conv2d_op",
           "db = g.sum(axis=(0, 2)) if has_bias else None", "db = g.sum(axis=(1, 2)) if has_bias else None",
           (BWD, CNNT), "bias gradient summed over filters instead of over the batch"),
    Mutant("conv_float16_internals", "float32", "conv2d_op",
           "DTYPE = np.float32", "DTYPE = np.float16",
           (FWD, BWD, MPF, MPB, APF, APB) + CNN, "half precision everywhere: errors near 1e-3 (rtol is 1e-4)"),

    # ------------------------------------------------------------ MaxPool2d
    Mutant("maxpool_zero_padding", "im2col", "maxpool2d",
           "xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)), constant_values=-np.inf)",
           "xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))",
           (MPF, MPB), "pads with 0 instead of -inf: padding wins over negative inputs"),
    Mutant("maxpool_grad_to_all_ties", "strided", "maxpool2d",
           "self.mask = (np.arange(kh * kw) == first[..., None]).reshape(win.shape)",
           "self.mask = (flat == flat.max(axis=-1, keepdims=True)).reshape(win.shape)",
           (MPB,), "mask = (window == max): a tied window copies its gradient to every maximum"),
    Mutant("maxpool_argmax_wrong_width", "reference", "maxpool2d",
           "np.divmod(self.argmax[:, :, i, j], kw)", "np.divmod(self.argmax[:, :, i, j], kh)",
           (MPB,), "unravels the flat argmax with the kernel height: wrong for non-square kernels"),
    Mutant("maxpool_bwd_fancy_index", "im2col", "maxpool2d",
           "np.add.at(dxp, (nn, cc, rows, cols), g)", "dxp[nn, cc, rows, cols] += g",
           (MPB,), "fancy-index += over all windows at once: overlapping windows with one maximum add once"),
    Mutant("maxpool_fancy_index_per_window", "reference", "maxpool2d",
           "np.add.at(dx_pad, (nn, cc, i * sh + u, j * sw + v), grad_out[:, :, i, j])",
           "dx_pad[nn, cc, i * sh + u, j * sw + v] += grad_out[:, :, i, j]",
           (), "fancy-index += inside the per-window loop",
           equivalent="within one window position the (n, c, row, col) targets are all distinct, so "
                      "fancy-index += loses nothing; windows accumulate through the loop"),
    Mutant("maxpool_bwd_stride_ignored", "reference", "maxpool2d",
           "np.add.at(dx_pad, (nn, cc, i * sh + u, j * sw + v),", "np.add.at(dx_pad, (nn, cc, i + u, j + v),",
           (MPB, CNNT), "routes the gradient as if the stride were 1"),
    Mutant("maxpool_bwd_forgets_unpad", "im2col", "maxpool2d",
           "return (dxp[:, :, ph:ph + x_shape[2], pw:pw + x_shape[3]],)", "return (dxp,)",
           (MPB,), "returns the gradient of the padded input"),
    Mutant("maxpool_height_width_swapped", "reference", "maxpool2d",
           "oh, ow = conv_output_size(h, kh, sh, ph), conv_output_size(width, kw, sw, pw)",
           "oh, ow = conv_output_size(width, kw, sw, pw), conv_output_size(h, kh, sh, ph)",
           (MPF, MPB), "output height and width swapped: right only for square inputs"),
    Mutant("maxpool_last_tie_wins", "offsets", "maxpool2d",
           "better = tap > best", "better = tap >= best",
           (), "the last maximal position of a window wins a tie",
           equivalent="the notebook lets a tie go to any one maximal position (the tie check accepts "
                      "any single one), and random inputs have no ties"),

    # ------------------------------------------------------------ AvgPool2d
    Mutant("avgpool_excludes_padding", "im2col", "avgpool2d",
           "return win.mean(axis=(-2, -1))",
           "ones = np.pad(np.ones(x.shape[2:]), ((ph, ph), (pw, pw)))\n"
           "        counts = sliding_window_view(ones, (kh, kw))[::sh, ::sw].sum(axis=(-2, -1))\n"
           "        return win.sum(axis=(-2, -1)) / counts",
           (APF,), "count_include_pad=False: divides by the unpadded cells (the notebook asks for "
                   "PyTorch's default, padding counts)"),
    Mutant("avgpool_bwd_not_divided", "reference", "avgpool2d",
           "share = grad_out[:, :, i, j][:, :, None, None] / (kh * kw)",
           "share = grad_out[:, :, i, j][:, :, None, None]",
           (APB,), "backward copies the whole gradient to every cell of the window"),
    Mutant("avgpool_bwd_overwrites", "fullconv", "avgpool2d",
           "dxp[:, :, i * sh:i * sh + kh, j * sw:j * sw + kw] += ", "dxp[:, :, i * sh:i * sh + kh, j * sw:j * sw + kw] = ",
           (APB,), "= instead of +=: overlapping windows overwrite each other"),
    Mutant("avgpool_default_stride_1", "im2col", "avgpool2d",
           "self.s = self.k if stride is None else _pair(stride)", "self.s = (1, 1) if stride is None else _pair(stride)",
           (APF, APB), "AvgPool2d's stride defaults to 1 instead of the kernel size"),
    Mutant("avgpool_padding_wrong_axes", "im2col", "avgpool2d",
           "xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))", "xp = np.pad(x, ((ph, ph), (pw, pw), (0, 0), (0, 0)))",
           (APF, APB), "pads the batch and channel axes instead of height and width"),
    Mutant("avgpool_bwd_stride_ignored", "strided", "avgpool2d",
           "dxp[:, :, u:u + sh * oh:sh, v:v + sw * ow:sw] += grad_out / (kh * kw)",
           "dxp[:, :, u:u + oh, v:v + ow] += grad_out / (kh * kw)",
           (APB,), "scatters the gradient as if the stride were 1"),
    Mutant("avgpool_table_off_by_one", "strided", "avgpool2d",
           "total = (table[:, :, r + kh][:, :, :, q + kw]", "total = (table[:, :, r + kh - 1][:, :, :, q + kw]",
           (APF,), "summed-area table read one row short"),
    Mutant("avgpool_bwd_unpad_wrong_offset", "float32", "avgpool2d",
           "return (dxp[:, 0, ph:ph + h, pw:pw + w].reshape(n, c, h, w),)",
           "return (dxp[:, 0, :h, :w].reshape(n, c, h, w),)",
           (APB,), "cuts the padding off one side only"),

    # ------------------------------------------------------------ Flatten
    Mutant("flatten_channels_last", "im2col", "flatten",
           "return x.reshape(", "return x.transpose(0, 2, 3, 1).reshape(",
           (FLAT,) + CNN, "flattens in (H, W, C) order"),
    Mutant("flatten_breaks_graph", "einsum", "flatten",
           "return x.reshape(*lead, -1)", "return Tensor(x.data.reshape(*lead, -1))",
           (FLAT, CNNT), "returns a new Tensor: the gradient stops at Flatten"),
    Mutant("flatten_reshapes_input_in_place", "reference", "flatten",
           "return x.reshape(tuple(x.shape[:self.start_dim]) + (-1,))",
           "x.data = x.data.reshape(tuple(x.shape[:self.start_dim]) + (-1,))\n        return x",
           (FLAT, CNNT), "reshapes the input tensor's data in place and returns it"),
    Mutant("flatten_batch_axis_last", "strided", "flatten",
           "x.reshape(x.shape[:self.start_dim] + (-1,))", "x.reshape((-1,) + x.shape[:self.start_dim])",
           (FLAT, STRUCT) + CNN, "(features, batch) instead of (batch, features)"),

    # ------------------------------------------------------------ SimpleCNN
    Mutant("cnn_pool_before_relu", "reference", "simplecnn",
           "x = self.pool1(self.relu(self.conv1(x)))", "x = self.relu(self.pool1(self.conv1(x)))",
           (), "max-pool before ReLU in the first block",
           equivalent="ReLU is monotone, so max(relu(a)) = relu(max(a)); the gradients agree too "
                      "(zero wherever the window's maximum is <= 0)"),
    Mutant("cnn_missing_relu", "reference", "simplecnn",
           "x = self.pool2(self.relu(self.conv2(x)))", "x = self.pool2(self.conv2(x))",
           CNN, "no ReLU after conv2"),
    Mutant("cnn_linear_hardcoded_32px", "im2col", "simplecnn",
           "self.fc = Linear(64 * (image_size // 4) ** 2, num_classes)", "self.fc = Linear(64 * 8 * 8, num_classes)",
           (STRUCT,) + CNN, "classifier size fixed for 32x32 images"),
    Mutant("cnn_linear_one_pool", "float32", "simplecnn",
           "Linear(64 * (image_size // 4) ** 2, num_classes)", "Linear(64 * (image_size // 2) ** 2, num_classes)",
           (STRUCT,) + CNN, "classifier size counts only one pooling"),
    Mutant("cnn_graph_broken_before_fc", "fullconv", "simplecnn",
           "return self.fc(features)", "return self.fc(Tensor(features.data))",
           (CNNT,), "Tensor(x.data) before the classifier: no gradient reaches the convolutions"),
    Mutant("cnn_count_tensors", "einsum", "simplecnn",
           "return sum(int(np.prod(p.data.shape)) for p in model.parameters())", "return len(model.parameters())",
           (STRUCT,), "count_parameters counts tensors instead of values"),
    Mutant("cnn_classifier_first", "offsets", "simplecnn",
           "        self.conv1 = Conv2d(in_channels, 32, kernel_size=3, stride=1, padding=1)\n",
           "        self.fc = None  # the classifier is set up below\n"
           "        self.conv1 = Conv2d(in_channels, 32, kernel_size=3, stride=1, padding=1)\n",
           (STRUCT,) + CNN, "the fc attribute is created first, so parameters() lists fc before the convolutions"),
    Mutant("cnn_second_pool_average", "strided", "simplecnn",
           "Conv2d(32, 64, 3, padding=1), ReLU(), MaxPool2d(2),", "Conv2d(32, 64, 3, padding=1), ReLU(), AvgPool2d(2),",
           CNN, "the second block average-pools"),
    Mutant("cnn_conv2_unpadded", "reference", "simplecnn",
           "self.conv2 = Conv2d(32, 64, 3, padding=1)", "self.conv2 = Conv2d(32, 64, 3)",
           (STRUCT,) + CNN, "conv2 without padding: the feature maps shrink"),
    # ------------------------------------------------------------ caught only by the checks the coverage model added
    Mutant("flatten_ignores_start_dim", "strided", "flatten",
           "return x.reshape(x.shape[:self.start_dim] + (-1,))", "return x.reshape(x.shape[0], -1)",
           (FLAT,), "Flatten always keeps only the batch axis, whatever start_dim says"),
    Mutant("conv_dx_covered_area_only", "loops", "conv2d_op",
           "d_padded = np.zeros_like(padded)",
           "d_padded = np.zeros((batch, channels, (grad_out.shape[2] - 1) * sh + kh, (grad_out.shape[3] - 1) * sw + kw))",
           (BWD,), "Conv2d's input gradient is sized from the windows: rows no window covers are cut off"),
    Mutant("avgpool_dx_covered_area_only", "loops", "avgpool2d",
           "d_padded = np.zeros(self.padded_shape)\n        batch, channels, out_h, out_w = grad_out.shape",
           "batch, channels, out_h, out_w = grad_out.shape\n"
           "        d_padded = np.zeros((batch, channels, (out_h - 1) * sh + kh, (out_w - 1) * sw + kw))",
           (APB,), "AvgPool2d's input gradient is sized from the windows: rows no window covers are cut off"),
    Mutant("outsize_default_same_padding", "loops", "conv_output_size",
           "def conv_output_size(size, kernel, stride=1, padding=0):",
           "def conv_output_size(size, kernel, stride=1, padding=1):",
           (OUTSIZE,), "conv_output_size assumes 'same' padding when none is given"),
    Mutant("receptive_field_default_kernel_2", "im2col", "receptive_field",
           "def receptive_field(num_layers, kernel=3):", "def receptive_field(num_layers, kernel=2):",
           (RF,), "receptive_field's default kernel is 2"),
]

BY_NAME = {m.name: m for m in CATALOG}
if len(BY_NAME) != len(CATALOG):
    raise ValueError("two mutants share a name")
