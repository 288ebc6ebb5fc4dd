# A correct solution whose backward pass is itself a convolution: dx is the full
# correlation of the stride-dilated upstream gradient with the flipped kernel, dw the
# correlation of the padded input with it (the textbook "transposed convolution" view).
# The forward pass computes every stride-1 position and keeps every stride-th one.
# Pooling takes a reshape fast path when the windows tile the input, loops otherwise.

# %% conv_output_size
def conv_output_size(size, kernel, stride=1, padding=0):
    assert stride >= 1, "stride must be positive"
    return (size + 2 * padding - kernel) // stride + 1

# %% receptive_field
def receptive_field(num_layers, kernel=3):
    if num_layers == 0:
        return 1
    return receptive_field(num_layers - 1, kernel) + kernel - 1

# %% conv2d_op
from numpy.lib.stride_tricks import sliding_window_view


def correlate(x, k):
    """Valid cross-correlation, stride 1: x (N, C, H, W), k (F, C, KH, KW) -> (N, F, H-KH+1, W-KW+1)."""
    win = sliding_window_view(x, k.shape[2:], axis=(2, 3))            # N, C, OH, OW, KH, KW
    return np.tensordot(win, k, axes=([1, 4, 5], [1, 2, 3])).transpose(0, 3, 1, 2)


def dilate(g, sh, sw):
    """Insert (stride - 1) zeros between the rows and the columns of g."""
    n, f, oh, ow = g.shape
    out = np.zeros((n, f, (oh - 1) * sh + 1, (ow - 1) * sw + 1), dtype=g.dtype)
    out[:, :, ::sh, ::sw] = g
    return out


class Conv2dOp(Function):
    def __init__(self, stride=1, padding=0):
        self.stride = _pair(stride)
        self.padding = _pair(padding)

    def forward(self, x, w, b=None):
        (sh, sw), (ph, pw) = self.stride, self.padding
        xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
        out = correlate(xp, w)[:, :, ::sh, ::sw]
        if b is not None:
            out = out + b[None, :, None, None]
        self.xp, self.w, self.with_bias = xp, w, b is not None
        return out

    def backward(self, grad_out):
        (sh, sw), (ph, pw) = self.stride, self.padding
        xp, w = self.xp, self.w
        f, c, kh, kw = w.shape
        gd = dilate(grad_out, sh, sw)                                    # N, F, DH, DW
        dh, dwd = gd.shape[2:]
        # dx_pad: full correlation of gd with the flipped kernel, input and output channels swapped
        full = np.pad(gd, ((0, 0), (0, 0), (kh - 1, kh - 1), (kw - 1, kw - 1)))
        core = correlate(full, w[:, :, ::-1, ::-1].transpose(1, 0, 2, 3))    # N, C, DH+KH-1, DW+KW-1
        dxp = np.zeros_like(xp)
        dxp[:, :, :core.shape[2], :core.shape[3]] = core                # rows no window reached stay 0
        # dw[f, c]: correlation of the padded input with the dilated gradient
        win = sliding_window_view(xp, (dh, dwd), axis=(2, 3))[:, :, :kh, :kw]   # N, C, KH, KW, DH, DW
        dw = np.tensordot(gd, win, axes=([0, 2, 3], [0, 4, 5]))          # F, C, KH, KW
        db = grad_out.sum(axis=(0, 2, 3)) if self.with_bias else None
        h, wd = xp.shape[2] - 2 * ph, xp.shape[3] - 2 * pw
        return dxp[:, :, ph:ph + h, pw:pw + wd], dw, db

# %% conv2d_layer
class Conv2d(Module):
    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, bias=True):
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size, self.stride, self.padding = _pair(kernel_size), _pair(stride), _pair(padding)
        shape = (out_channels, in_channels, *self.kernel_size)
        fan_in = np.prod(shape[1:])
        self.weight = Tensor(np.random.randn(*shape) * (2.0 / fan_in) ** 0.5, requires_grad=True)
        self.bias = Tensor(np.zeros(out_channels), requires_grad=True) if bias else None

    def forward(self, x):
        return Conv2dOp(self.stride, self.padding)(x, self.weight, self.bias)

# %% maxpool2d
class MaxPool2dOp(Function):
    def __init__(self, kernel_size, stride=None, padding=0):
        self.kernel = _pair(kernel_size)
        self.stride = _pair(stride) if stride is not None else self.kernel
        self.padding = _pair(padding)

    def forward(self, x):
        (kh, kw), (sh, sw), (ph, pw) = self.kernel, self.stride, self.padding
        n, c, h, w = x.shape
        oh, ow = conv_output_size(h, kh, sh, ph), conv_output_size(w, kw, sw, pw)
        self.x_shape = x.shape
        self.tiled = (sh, sw) == (kh, kw) and (ph, pw) == (0, 0)
        if self.tiled:                       # windows tile the input: one reshape, no copy per window
            blocks = x[:, :, :oh * kh, :ow * kw].reshape(n, c, oh, kh, ow, kw).transpose(0, 1, 2, 4, 3, 5)
            blocks = blocks.reshape(n, c, oh, ow, kh * kw)
            self.pick = blocks.argmax(axis=-1)
            return blocks.max(axis=-1)
        xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)), constant_values=-np.inf)
        out = np.empty((n, c, oh, ow))
        self.pick = np.empty((n, c, oh, ow), dtype=np.int64)
        for i in range(oh):
            for j in range(ow):
                win = xp[:, :, i * sh:i * sh + kh, j * sw:j * sw + kw].reshape(n, c, kh * kw)
                self.pick[:, :, i, j] = win.argmax(axis=2)
                out[:, :, i, j] = win.max(axis=2)
        return out

    def backward(self, grad_out):
        (kh, kw), (sh, sw), (ph, pw) = self.kernel, self.stride, self.padding
        n, c, h, w = self.x_shape
        oh, ow = grad_out.shape[2:]
        if self.tiled:
            onehot = (np.arange(kh * kw) == self.pick[..., None]) * grad_out[..., None]   # N, C, OH, OW, KH*KW
            blocks = onehot.reshape(n, c, oh, ow, kh, kw).transpose(0, 1, 2, 4, 3, 5).reshape(n, c, oh * kh, ow * kw)
            dx = np.zeros((n, c, h, w))
            dx[:, :, :oh * kh, :ow * kw] = blocks
            return (dx,)
        dxp = np.zeros((n, c, h + 2 * ph, w + 2 * pw))
        for i in range(oh):
            for j in range(ow):
                u, v = np.unravel_index(self.pick[:, :, i, j], (kh, kw))
                for a in range(n):
                    for b in range(c):
                        dxp[a, b, i * sh + u[a, b], j * sw + v[a, b]] += grad_out[a, b, i, j]
        return (dxp[:, :, ph:ph + h, pw:pw + w],)


class MaxPool2d(Module):
    def __init__(self, kernel_size, stride=None, padding=0):
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding

    def forward(self, x):
        return MaxPool2dOp(self.kernel_size, self.stride, self.padding)(x)

# %% avgpool2d
class AvgPool2dOp(Function):
    def __init__(self, kernel_size, stride=None, padding=0):
        self.kernel = _pair(kernel_size)
        self.stride = _pair(stride) if stride is not None else self.kernel
        self.padding = _pair(padding)

    def forward(self, x):
        (kh, kw), (sh, sw), (ph, pw) = self.kernel, self.stride, self.padding
        n, c, h, w = x.shape
        oh, ow = conv_output_size(h, kh, sh, ph), conv_output_size(w, kw, sw, pw)
        self.x_shape = x.shape
        self.tiled = (sh, sw) == (kh, kw) and (ph, pw) == (0, 0)
        if self.tiled:
            return x[:, :, :oh * kh, :ow * kw].reshape(n, c, oh, kh, ow, kw).mean(axis=(3, 5))
        xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
        out = np.empty((n, c, oh, ow))
        for i in range(oh):
            for j in range(ow):
                out[:, :, i, j] = xp[:, :, i * sh:i * sh + kh, j * sw:j * sw + kw].mean(axis=(2, 3))
        return out

    def backward(self, grad_out):
        (kh, kw), (sh, sw), (ph, pw) = self.kernel, self.stride, self.padding
        n, c, h, w = self.x_shape
        oh, ow = grad_out.shape[2:]
        if self.tiled:
            dx = np.zeros((n, c, h, w))
            dx[:, :, :oh * kh, :ow * kw] = np.repeat(np.repeat(grad_out, kh, axis=2), kw, axis=3) / (kh * kw)
            return (dx,)
        dxp = np.zeros((n, c, h + 2 * ph, w + 2 * pw))
        for i in range(oh):
            for j in range(ow):
                dxp[:, :, i * sh:i * sh + kh, j * sw:j * sw + kw] += grad_out[:, :, i:i + 1, j:j + 1] / (kh * kw)
        return (dxp[:, :, ph:ph + h, pw:pw + w],)


class AvgPool2d(Module):
    def __init__(self, kernel_size, stride=None, padding=0):
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding

    def forward(self, x):
        return AvgPool2dOp(self.kernel_size, self.stride, self.padding)(x)

# %% flatten
class Flatten(Module):
    def __init__(self, start_dim=1):
        self.start_dim = start_dim

    def forward(self, x):
        shape = x.shape
        return x.reshape(*shape[:self.start_dim], int(np.prod(shape[self.start_dim:])))

# %% simplecnn
class SimpleCNN(Module):
    def __init__(self, num_classes=10, in_channels=3, image_size=32):
        self.conv1 = Conv2d(in_channels, 32, 3, padding=1)
        self.activation = ReLU()
        self.pool1 = MaxPool2d(2)
        self.conv2 = Conv2d(32, 64, 3, padding=1)
        self.pool2 = MaxPool2d(2)
        self.flatten = Flatten()
        features = 64 * (image_size // 4) * (image_size // 4)
        self.fc = Linear(features, num_classes)

    def forward(self, x):
        x = self.conv1(x)
        x = self.activation(x)
        x = self.pool1(x)
        x = self.conv2(x)
        x = self.activation(x)
        x = self.pool2(x)
        features = self.flatten(x)
        return self.fc(features)


def count_parameters(model):
    return sum(np.size(p.data) for p in model.parameters())
