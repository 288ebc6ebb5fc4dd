# A correct vectorised solution: im2col + one matrix product for the convolution,
# sliding windows (numpy stride tricks) for pooling. No loop over output positions.
# %% conv_output_size
def conv_output_size(size, kernel, stride=1, padding=0):
    return int(np.floor((size + 2 * padding - kernel) / stride)) + 1

# %% receptive_field
def receptive_field(num_layers, kernel=3):
    return num_layers * kernel - (num_layers - 1)

# %% conv2d_op
from numpy.lib.stride_tricks import sliding_window_view


def _windows(x, kh, kw, sh, sw):
    """(N, C, H, W) -> (N, C, OH, OW, KH, KW) view of every window."""
    return sliding_window_view(x, (kh, kw), axis=(2, 3))[:, :, ::sh, ::sw]


class Conv2dOp(Function):
    def __init__(self, stride=1, padding=0):
        self._s = _pair(stride)
        self._p = _pair(padding)

    def forward(self, x, w, b=None):
        (sh, sw), (ph, pw) = self._s, self._p
        xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
        f, c, kh, kw = w.shape
        win = _windows(xp, kh, kw, sh, sw)                                   # N, C, OH, OW, KH, KW
        n, _, oh, ow = win.shape[:4]
        cols = win.transpose(0, 2, 3, 1, 4, 5).reshape(n * oh * ow, c * kh * kw)
        out = cols @ w.reshape(f, -1).T                                      # (N*OH*OW, F)
        if b is not None:
            out = out + b
        self._ctx = (cols, xp.shape, x.shape, w, b is not None, (n, oh, ow))
        return out.reshape(n, oh, ow, f).transpose(0, 3, 1, 2)

    def backward(self, g):
        cols, xp_shape, x_shape, w, has_b, (n, oh, ow) = self._ctx
        (sh, sw), (ph, pw) = self._s, self._p
        f, c, kh, kw = w.shape
        g2 = g.transpose(0, 2, 3, 1).reshape(-1, f)                          # (N*OH*OW, F)
        dw = (g2.T @ cols).reshape(w.shape)
        dcols = (g2 @ w.reshape(f, -1)).reshape(n, oh, ow, c, kh, kw)
        dxp = np.zeros(xp_shape)
        for u in range(kh):
            for v in range(kw):
                dxp[:, :, u:u + sh * oh:sh, v:v + sw * ow:sw] += dcols[:, :, :, :, u, v].transpose(0, 3, 1, 2)
        dx = dxp[:, :, ph:ph + x_shape[2], pw:pw + x_shape[3]]
        return dx, dw, (g.sum(axis=(0, 2, 3)) if has_b else None)

# %% conv2d_layer
class Conv2d(Module):
    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, bias=True):
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size, self.stride, self.padding = _pair(kernel_size), _pair(stride), _pair(padding)
        kh, kw = self.kernel_size
        scale = (2.0 / (in_channels * kh * kw)) ** 0.5
        self.weight = Tensor(scale * np.random.standard_normal((out_channels, in_channels, kh, kw)),
                             requires_grad=True)
        self.bias = Tensor(np.zeros((out_channels,)), requires_grad=True) if bias else None

    def forward(self, x):
        return Conv2dOp(stride=self.stride, padding=self.padding)(x, self.weight, self.bias)

# %% maxpool2d
class MaxPool2dOp(Function):
    def __init__(self, kernel_size, stride=None, padding=0):
        self.k = _pair(kernel_size)
        self.s = self.k if stride is None else _pair(stride)
        self.p = _pair(padding)

    def forward(self, x):
        (kh, kw), (sh, sw), (ph, pw) = self.k, self.s, self.p
        xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)), constant_values=-np.inf)
        win = sliding_window_view(xp, (kh, kw), axis=(2, 3))[:, :, ::sh, ::sw]
        flat = win.reshape(win.shape[:4] + (-1,))
        self.idx = flat.argmax(axis=-1)
        self.shapes = (xp.shape, x.shape)
        return np.take_along_axis(flat, self.idx[..., None], axis=-1)[..., 0]

    def backward(self, g):
        (kh, kw), (sh, sw), (ph, pw) = self.k, self.s, self.p
        xp_shape, x_shape = self.shapes
        n, c, oh, ow = g.shape
        rows = (np.arange(oh) * sh)[None, None, :, None] + self.idx // kw
        cols = (np.arange(ow) * sw)[None, None, None, :] + self.idx % kw
        dxp = np.zeros(xp_shape)
        nn = np.arange(n)[:, None, None, None]
        cc = np.arange(c)[None, :, None, None]
        np.add.at(dxp, (nn, cc, rows, cols), g)
        return (dxp[:, :, ph:ph + x_shape[2], pw:pw + x_shape[3]],)


class MaxPool2d(Module):
    def __init__(self, kernel_size, stride=None, padding=0):
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding

    def forward(self, x):
        return MaxPool2dOp(self.kernel_size, self.stride, self.padding)(x)

# %% avgpool2d
class AvgPool2dOp(Function):
    def __init__(self, kernel_size, stride=None, padding=0):
        self.k = _pair(kernel_size)
        self.s = self.k if stride is None else _pair(stride)
        self.p = _pair(padding)

    def forward(self, x):
        (kh, kw), (sh, sw), (ph, pw) = self.k, self.s, self.p
        xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
        win = sliding_window_view(xp, (kh, kw), axis=(2, 3))[:, :, ::sh, ::sw]
        self.shapes = (xp.shape, x.shape, win.shape[2:4])
        return win.mean(axis=(-2, -1))

    def backward(self, g):
        (kh, kw), (sh, sw), (ph, pw) = self.k, self.s, self.p
        xp_shape, x_shape, (oh, ow) = self.shapes
        dxp = np.zeros(xp_shape)
        share = g / (kh * kw)
        for u in range(kh):
            for v in range(kw):
                dxp[:, :, u:u + sh * oh:sh, v:v + sw * ow:sw] += share
        return (dxp[:, :, ph:ph + x_shape[2], pw:pw + x_shape[3]],)


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
        keep = x.shape[:self.start_dim]
        return x.reshape(*keep, int(np.prod(x.shape[self.start_dim:])))

# %% simplecnn
class SimpleCNN(Module):
    def __init__(self, num_classes=10, in_channels=3, image_size=32):
        self.conv1 = Conv2d(in_channels, 32, 3, padding=1)
        self.relu1 = ReLU()
        self.pool1 = MaxPool2d(2)
        self.conv2 = Conv2d(32, 64, 3, padding=1)
        self.relu2 = ReLU()
        self.pool2 = MaxPool2d(2)
        self.flatten = Flatten()
        self.fc = Linear(64 * (image_size // 4) ** 2, num_classes)

    def forward(self, x):
        for layer in (self.conv1, self.relu1, self.pool1, self.conv2, self.relu2, self.pool2,
                      self.flatten, self.fc):
            x = layer(x)
        return x


def count_parameters(model):
    return sum(p.data.size for p in model.parameters())
